//go:build !unix

package keyfile

// oNoFollow: this system has no O_NOFOLLOW. Create and OpenAppend refuse a
// symbolic link they find with Lstat before opening (creating one needs a
// privilege on Windows).
const oNoFollow = 0
