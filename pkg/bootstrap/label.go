package bootstrap

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // photos of labels
	"image/png"
	"io"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	goqrcode "github.com/skip2/go-qrcode"

	"github.com/mstool/mstool/internal/crc16"
)

// LabelPrefix starts every label payload of this version.
const LabelPrefix = "MSB1"

// LabelSize is the length of a label payload:
// "MSB1:" id(8 hex) ":" RN_i(32 hex) ":" check(4 hex).
const LabelSize = 4 + 1 + 8 + 1 + 2*RNSize + 1 + 4

// Label is flight 1: what the device's printed QR code carries.
type Label struct {
	Device uint32
	RNi    [RNSize]byte
}

// String is the label payload, all upper case so that a QR code holds it
// in alphanumeric mode: MSB1:0000002A:<RN_i>:<CRC>, where CRC is
// CRC-16/CCITT-FALSE of everything before the last colon.
func (l Label) String() string {
	s := fmt.Sprintf("%s:%08X:%s", LabelPrefix, l.Device, strings.ToUpper(hex.EncodeToString(l.RNi[:])))
	return fmt.Sprintf("%s:%04X", s, crc16.Checksum([]byte(s)))
}

// LabelError reports a label payload that is not valid: a mistyped or
// damaged label is an error, never a wrong key.
type LabelError struct{ Msg string }

func (e *LabelError) Error() string { return "bootstrap: label: " + e.Msg }

// ErrLabelVersion reports a label of a later version than this mstool reads.
var ErrLabelVersion = errors.New("bootstrap: label: unsupported version (a newer mstool made it)")

// ParseLabel reads a label payload. Surrounding white space is ignored and
// lower-case hex is accepted (a typed label); everything else is checked,
// the checksum last.
func ParseLabel(s string) (Label, error) {
	var l Label
	s = strings.ToUpper(strings.TrimSpace(s))
	parts := strings.Split(s, ":")
	if len(parts) == 0 || !strings.HasPrefix(parts[0], "MSB") {
		return l, &LabelError{"not an mstool bootstrap label (want MSB1:...)"}
	}
	if parts[0] != LabelPrefix {
		return l, ErrLabelVersion
	}
	if len(parts) != 4 || len(s) != LabelSize {
		return l, &LabelError{fmt.Sprintf("want %d characters in 4 fields (MSB1:ID:RN:CHECK), got %d in %d", LabelSize, len(s), len(parts))}
	}
	id, err := hex.DecodeString(parts[1])
	if err != nil || len(id) != 4 {
		return l, &LabelError{"the device id is not 8 hex digits"}
	}
	rn, err := hex.DecodeString(parts[2])
	if err != nil || len(rn) != RNSize {
		return l, &LabelError{"RN is not 32 hex digits"}
	}
	ck, err := hex.DecodeString(parts[3])
	if err != nil || len(ck) != 2 {
		return l, &LabelError{"the check is not 4 hex digits"}
	}
	if binary.BigEndian.Uint16(ck) != crc16.Checksum([]byte(s[:len(s)-5])) {
		return l, &LabelError{"checksum mismatch: the label was mistyped or damaged"}
	}
	l.Device = binary.BigEndian.Uint32(id)
	if l.Device == 0 {
		return l, &LabelError{"device id 0 is reserved"}
	}
	copy(l.RNi[:], rn)
	return l, nil
}

// QR renders the label as a QR code (error correction level M).
func (l Label) QR() (*goqrcode.QRCode, error) {
	q, err := goqrcode.New(l.String(), goqrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: qr: %w", err)
	}
	return q, nil
}

// PNG renders the label's QR code as a PNG image size pixels wide. Every
// module is the same whole number of pixels, at least two, the code
// centred and the margin white: go-qrcode's own scaling to a size that is
// not a multiple of the module count draws modules of unequal widths,
// which zbar cannot read at some sizes (71, 81, 82 pixels), and zbar
// misses one-pixel modules at half the offsets. Below two pixels a module
// with the full quiet zone (74 pixels for the 37 modules of a label) the
// quiet zone is narrowed, to 1.5 modules at 64 pixels.
func (l Label) PNG(size int) ([]byte, error) {
	q, err := l.QR()
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // includes the quiet zone (4 modules a side)
	n := len(bm)
	m := max(size/n, 1)
	if m == 1 && size >= 2*(n-8) {
		m = 2 // the quiet zone is cut, by at most its 4 modules a side
	}
	size = max(size, n-8)
	off := (n*m - size) / 2 // pixels of quiet zone cut (negative: margin added)
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := range size {
		for x := range size {
			dx, dy := x+off, y+off
			if dx >= 0 && dy >= 0 && dx/m < n && dy/m < n && bm[dy/m][dx/m] {
				img.Pix[img.PixOffset(x, y)] = 1
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("bootstrap: qr: %w", err)
	}
	return b.Bytes(), nil
}

// SVG renders the label's QR code as an SVG image, one unit per module,
// with the quiet zone, and the payload as text below it.
func (l Label) SVG() ([]byte, error) {
	q, err := l.QR()
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`+"\n", n, n+4)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n<path fill=\"#000\" d=\"", n, n+4)
	for y, row := range bm {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	fmt.Fprintf(&b, "\"/>\n<text x=\"%d\" y=\"%d\" font-family=\"monospace\" font-size=\"1.2\" text-anchor=\"middle\">%08X</text>\n</svg>\n", n/2, n+2, l.Device)
	return b.Bytes(), nil
}

// Terminal renders the QR code with Unicode half blocks for a terminal
// (dark modules on a light background).
func (l Label) Terminal() (string, error) {
	q, err := l.QR()
	if err != nil {
		return "", err
	}
	return q.ToSmallString(false), nil
}

// MaxLabelImageSide is the largest width and height, in pixels, of an
// image DecodeLabelImage decodes: a phone photo of a label (4032 × 3024)
// fits, and the decoders allocate by the size the header declares, which
// a file of a few bytes can set to gigapixels.
const MaxLabelImageSide = 4096

// DecodeLabelImage finds a QR code in an image (PNG or JPEG) and parses
// its payload as a label. Images wider or taller than MaxLabelImageSide
// are refused before they are decoded.
func DecodeLabelImage(r io.Reader) (Label, error) {
	var head bytes.Buffer
	cfg, _, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return Label{}, fmt.Errorf("bootstrap: label image: %w", err)
	}
	if cfg.Width > MaxLabelImageSide || cfg.Height > MaxLabelImageSide {
		return Label{}, fmt.Errorf("bootstrap: label image: %d × %d pixels, more than %d a side (scale it down)", cfg.Width, cfg.Height, MaxLabelImageSide)
	}
	img, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return Label{}, fmt.Errorf("bootstrap: label image: %w", err)
	}
	text, err := decodeQR(img)
	if err != nil {
		return Label{}, err
	}
	return ParseLabel(text)
}

func decodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("bootstrap: label image: %w", err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		// The finder-pattern search misses about one in 200 of the
		// labels Label.PNG draws; read as a pure code (upright, only the
		// quiet zone around it: a generated label or a flat scan) they
		// decode.
		res, err = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		return "", errors.New("bootstrap: label image: no readable QR code found")
	}
	return res.GetText(), nil
}
