package grant

import "errors"

// Reason says why a grant was rejected. The values are stable: they appear
// in mstool's JSON output ("reason") and in scripts.
type Reason string

// The reasons a grant can be rejected.
const (
	ReasonMalformed    Reason = "malformed"        // wrong length, magic, version, flags or field values
	ReasonWrongIssuer  Reason = "wrong-issuer"     // signed by another key (key id or key size differs)
	ReasonBadSignature Reason = "bad-signature"    // the RSA signature does not verify
	ReasonWrongDevice  Reason = "wrong-device"     // the grant names another device or group
	ReasonSeal         Reason = "bad-seal"         // the sealed host key does not open under the device's key
	ReasonWrongHostKey Reason = "wrong-host-key"   // the host key given is not the one sealed in the grant
	ReasonWrongHost    Reason = "wrong-host"       // the host's IPv4 or MAC address is not the one bound
	ReasonRevoked      Reason = "revoked"          // serial below the revocation floor
	ReasonExpired      Reason = "expired"          // not_after is in the past (clock or time floor)
	ReasonNotYetValid  Reason = "not-yet-valid"    // issued_at is in the future
	ReasonTaskDenied   Reason = "task-not-granted" // the grant does not permit the task asked for
)

var reasonText = map[Reason]string{
	ReasonMalformed:    "malformed",
	ReasonWrongIssuer:  "signed by another issuer",
	ReasonBadSignature: "bad signature",
	ReasonWrongDevice:  "for another device",
	ReasonSeal:         "sealed host key does not open with this device's key",
	ReasonWrongHostKey: "wrong host key",
	ReasonWrongHost:    "for another host",
	ReasonRevoked:      "revoked",
	ReasonExpired:      "expired",
	ReasonNotYetValid:  "not yet valid",
	ReasonTaskDenied:   "task not granted",
}

// Error is a grant rejection. Compare with errors.Is against the Err*
// values, or use errors.As and read Reason.
type Error struct {
	Reason Reason
	Detail string // what exactly, for people; may be empty
}

func (e *Error) Error() string {
	s := "grant: " + reasonText[e.Reason]
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrExpired) true for any *Error with that reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Detail == ""
}

// Sentinel errors, one per Reason, for errors.Is.
var (
	ErrMalformed    = &Error{Reason: ReasonMalformed}
	ErrWrongIssuer  = &Error{Reason: ReasonWrongIssuer}
	ErrBadSignature = &Error{Reason: ReasonBadSignature}
	ErrWrongDevice  = &Error{Reason: ReasonWrongDevice}
	ErrSeal         = &Error{Reason: ReasonSeal}
	ErrWrongHostKey = &Error{Reason: ReasonWrongHostKey}
	ErrWrongHost    = &Error{Reason: ReasonWrongHost}
	ErrRevoked      = &Error{Reason: ReasonRevoked}
	ErrExpired      = &Error{Reason: ReasonExpired}
	ErrNotYetValid  = &Error{Reason: ReasonNotYetValid}
	ErrTaskDenied   = &Error{Reason: ReasonTaskDenied}
)

func reject(r Reason, detail string) error { return &Error{Reason: r, Detail: detail} }

// ReasonOf returns the reason of a grant rejection, or "" when err is not one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
