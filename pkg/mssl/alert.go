package mssl

import (
	"errors"
	"fmt"
)

// Alert is an MSSL alert code (docs/mssl.md, "Alerts"). The numbers are
// part of the wire format.
type Alert uint8

// Alert codes.
const (
	AlertCloseNotify       Alert = 0  // orderly close (in a record only)
	AlertUnexpectedMessage Alert = 1  // a message that is not valid in the current state
	AlertBadRecordMAC      Alert = 2  // a record (or the handshake Finished) does not authenticate
	AlertReplay            Alert = 3  // a record sequence number at or below the last accepted one
	AlertRecordOverflow    Alert = 4  // a message longer than the device accepts
	AlertDecodeError       Alert = 5  // a message of the wrong length or layout
	AlertProtocolVersion   Alert = 6  // an MSSL version the device does not speak
	AlertBadGrant          Alert = 7  // a malformed grant, or its sealed host key does not open
	AlertUnknownIssuer     Alert = 8  // the grant (or floor statement) names another issuer key
	AlertBadSignature      Alert = 9  // the RSA signature does not verify
	AlertWrongDevice       Alert = 10 // the grant is for another device or group
	AlertWrongHost         Alert = 11 // the grant is bound to another host address
	AlertRevoked           Alert = 12 // the grant's serial is below the device's serial floor
	AlertExpired           Alert = 13 // the grant's not_after is below the device's time floor
	AlertInternalError     Alert = 14 // the device cannot continue (nonce counter exhausted, storage failure)
)

var alertNames = [...]string{
	AlertCloseNotify:       "close_notify",
	AlertUnexpectedMessage: "unexpected_message",
	AlertBadRecordMAC:      "bad_record_mac",
	AlertReplay:            "replay",
	AlertRecordOverflow:    "record_overflow",
	AlertDecodeError:       "decode_error",
	AlertProtocolVersion:   "protocol_version",
	AlertBadGrant:          "bad_grant",
	AlertUnknownIssuer:     "unknown_issuer",
	AlertBadSignature:      "bad_signature",
	AlertWrongDevice:       "wrong_device",
	AlertWrongHost:         "wrong_host",
	AlertRevoked:           "revoked",
	AlertExpired:           "expired",
	AlertInternalError:     "internal_error",
}

// NumAlerts is the number of defined alert codes (0..NumAlerts-1).
const NumAlerts = len(alertNames)

func (a Alert) String() string {
	if int(a) < len(alertNames) {
		return alertNames[a]
	}
	return fmt.Sprintf("alert(%d)", uint8(a))
}

// Auth reports whether the alert means an authentication or authorisation
// failure (a grant or key problem), as opposed to a protocol or link one.
func (a Alert) Auth() bool {
	switch a {
	case AlertBadRecordMAC, AlertBadGrant, AlertUnknownIssuer, AlertBadSignature,
		AlertWrongDevice, AlertWrongHost, AlertRevoked, AlertExpired:
		return true
	}
	return false
}

// AlertError is an alert, received from the peer (Remote) or raised
// locally. Compare with errors.Is against the Err* values, or use
// errors.As and read Code.
type AlertError struct {
	Code   Alert
	Remote bool   // the device sent it
	Detail string // locally raised: what exactly
}

func (e *AlertError) Error() string {
	s := "mssl: "
	if e.Remote {
		s += "device alert: "
	}
	s += e.Code.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrRevoked) true for any *AlertError with that code.
func (e *AlertError) Is(target error) bool {
	t, ok := target.(*AlertError)
	return ok && t.Code == e.Code && t.Detail == "" && !t.Remote
}

// Sentinel alert errors for errors.Is.
var (
	ErrCloseNotify   = &AlertError{Code: AlertCloseNotify}
	ErrUnexpected    = &AlertError{Code: AlertUnexpectedMessage}
	ErrBadRecordMAC  = &AlertError{Code: AlertBadRecordMAC}
	ErrReplay        = &AlertError{Code: AlertReplay}
	ErrOverflow      = &AlertError{Code: AlertRecordOverflow}
	ErrDecodeAlert   = &AlertError{Code: AlertDecodeError}
	ErrVersion       = &AlertError{Code: AlertProtocolVersion}
	ErrBadGrant      = &AlertError{Code: AlertBadGrant}
	ErrUnknownIssuer = &AlertError{Code: AlertUnknownIssuer}
	ErrBadSignature  = &AlertError{Code: AlertBadSignature}
	ErrWrongDevice   = &AlertError{Code: AlertWrongDevice}
	ErrWrongHost     = &AlertError{Code: AlertWrongHost}
	ErrRevoked       = &AlertError{Code: AlertRevoked}
	ErrExpired       = &AlertError{Code: AlertExpired}
	ErrInternal      = &AlertError{Code: AlertInternalError}
)

func alertErr(code Alert, format string, a ...any) error {
	return &AlertError{Code: code, Detail: fmt.Sprintf(format, a...)}
}

// AlertOf returns the alert code err carries, and whether it carries one.
func AlertOf(err error) (Alert, bool) {
	var e *AlertError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}
