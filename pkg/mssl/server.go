package mssl

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// ReserveBlock is how many nonce counter values one write of the
// persistent state reserves (CONFIG_RESERVE_BLOCK, docs/eeprom.md).
const ReserveBlock = 1024

// PersistentState is the part of the device's EEPROM state MSSL uses
// (docs/eeprom.md, state area).
type PersistentState struct {
	NonceReserved uint32 // nonce counter values below it may be used
	SerialFloor   uint32 // grants with a serial below it are revoked
	TimeFloor     uint32 // greatest issued_at accepted (unix seconds)
}

// Store persists the device state. Save must not return before the state
// is durable (the device waits for the EEPROM write).
type Store interface {
	Load() (PersistentState, error)
	Save(PersistentState) error
}

// MemStore is a Store in memory, for tests and simulations. A new Server
// on the same MemStore behaves like the device after a reset.
type MemStore struct {
	mu     sync.Mutex
	State  PersistentState
	Writes int
	Fail   bool // Save fails (a broken EEPROM)
}

// Load returns the stored state.
func (m *MemStore) Load() (PersistentState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.State, nil
}

// Save stores st.
func (m *MemStore) Save(st PersistentState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail {
		return errors.New("mssl: store: write failed")
	}
	m.State = st
	m.Writes++
	return nil
}

// TaskFunc runs one task the grant permits and returns its status and
// result (docs/tasks.md).
type TaskFunc func(task tasks.Task, args []byte) (tasks.Status, []byte)

// ServerConfig is a device's MSSL configuration.
type ServerConfig struct {
	Device *devkey.Identity // device id, master key, group
	Issuer *rsa.PublicKey   // the grant issuer's public key (from provisioning)
	Store  Store            // persistent counters and floors
	Tasks  TaskFunc         // the task service
	// SealOK is the provisioned policy (config flag 0x08, docs/eeprom.md):
	// a device-bound grant is accepted on its seal alone, without its
	// signature. Group grants always need the signature.
	SealOK bool
	// NoRSA is the seal-only profile (firmware CONFIG_MSSL_RSA=0): the
	// device verifies no RSA and computes no SHA-256, so it does not check
	// the issuer key id, refuses every grant the policy does not take on
	// its seal (bad_signature), and takes floor statements only with their
	// device MAC, whole in one Floor record (docs/mssl.md, "Seal-only").
	NoRSA bool
	// CacheSize is the number of verified grants kept (0: 1). Each entry
	// holds the 79-byte body and the 16-byte host key.
	CacheSize int
	// MaxMessage is the largest message accepted (0: MaxMessage).
	MaxMessage int
	// Epoch is mixed into every device nonce with the persisted counter
	// (Nd = AES(Knonce, counter ‖ epoch)), so that nonces stay fresh when
	// the Store goes back to an older state (an image flashed again). Nil:
	// 12 random bytes, drawn once per server (the device draws its own at
	// every boot). Set it only to reproduce test vectors.
	Epoch *[EpochSize]byte
}

// EpochSize is the length of the boot epoch in a device nonce.
const EpochSize = 12

// ServerStats count what the server did, by outcome.
type ServerStats struct {
	Handshakes  uint64            // sessions established
	RSAVerifies uint64            // grant and floor signatures checked
	CacheHits   uint64            // handshakes that skipped the RSA check
	Records     uint64            // records accepted
	Alerts      [NumAlerts]uint64 // alerts sent, by code
	Dropped     uint64            // messages dropped without an answer
}

type cacheEntry struct {
	body [grant.BodySize]byte
	kh   [KeySize]byte
}

type handshakeState uint8

const (
	hsAwaitFinished handshakeState = iota + 1
	hsAwaitSignature
)

// pending is a handshake in progress (at most one).
type pending struct {
	peer   netip.AddrPort
	state  handshakeState
	cached bool
	flags  byte
	entry  cacheEntry
	grant  *grant.Grant
	c2s    *direction
	s2c    *direction
}

// session is the established session (at most one).
type session struct {
	peer     netip.AddrPort
	grant    *grant.Grant
	c2s, s2c *direction
	lastIn   uint32 // last accepted host sequence number (Finished was 0)
	nextOut  uint32
	floor    *Floor // floor statement waiting for its signature
	floorRaw []byte
}

// Server is the device side of MSSL, exactly as the firmware behaves:
// Handle takes one message and returns the messages to send back.
type Server struct {
	cfg    ServerConfig
	keyID  [grant.KeyIDSize]byte
	knonce [KeySize]byte
	epoch  [EpochSize]byte // fresh per server: a device boot

	mu      sync.Mutex
	st      PersistentState
	counter uint32
	cache   []cacheEntry // most recently used first
	hs      *pending
	sess    *session
	stats   ServerStats
}

// NewServer starts a server as the device does at boot: it loads the
// persistent state, and its nonce counter starts at the reserved value
// (skipping whatever an earlier run left unused).
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Device == nil || cfg.Issuer == nil || cfg.Store == nil || cfg.Tasks == nil {
		return nil, errors.New("mssl: server needs a device identity, an issuer key, a store and a task service")
	}
	if err := signkey.Check(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 1
	}
	if cfg.MaxMessage <= 0 || cfg.MaxMessage > MaxMessage {
		cfg.MaxMessage = MaxMessage
	}
	st, err := cfg.Store.Load()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, keyID: signkey.KeyID(cfg.Issuer), knonce: NonceKey(cfg.Device.MasterKey), st: st, counter: st.NonceReserved}
	if cfg.Epoch != nil {
		s.epoch = *cfg.Epoch
	} else if _, err := rand.Read(s.epoch[:]); err != nil {
		return nil, fmt.Errorf("mssl: server epoch: %w", err)
	}
	return s, nil
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// State returns the persistent state as the server holds it.
func (s *Server) State() PersistentState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// HasSession reports whether a session is established, and with whom.
func (s *Server) HasSession() (netip.AddrPort, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return netip.AddrPort{}, false
	}
	return s.sess.peer, true
}

func (s *Server) alert(code Alert) [][]byte {
	s.stats.Alerts[code]++
	return [][]byte{alertMessage(code)}
}

// recordAlert sends an alert inside the session.
func (s *Server) recordAlert(code Alert) []byte {
	s.stats.Alerts[code]++
	return s.sealOut(RecordAlert, []byte{byte(code)})
}

func (s *Server) sealOut(typ byte, pt []byte) []byte {
	seq := s.sess.nextOut
	s.sess.nextOut++
	return s.sess.s2c.seal(nil, typ, seq, pt, nil)
}

// Handle processes one message from peer (its IPv4 address and UDP port;
// on a stream, the address the stream comes from) and returns the
// messages to send back to peer, in order. It never panics on any input.
func (s *Server) Handle(peer netip.AddrPort, msg []byte) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(msg) == 0 {
		s.stats.Dropped++
		return nil
	}
	if len(msg) > s.cfg.MaxMessage {
		return s.alert(AlertRecordOverflow)
	}
	switch t := msg[0]; {
	case t == TypeClientHello:
		return s.clientHello(peer, msg)
	case t == TypeGrantSignature:
		return s.grantSignature(peer, msg)
	case t == TypeFloorSignature:
		return s.floorSignature(peer, msg)
	case t == TypeAlert:
		s.stats.Dropped++ // cleartext alerts from hosts change nothing
		return nil
	case IsRecordType(t):
		return s.record(peer, msg)
	}
	return s.alert(AlertUnexpectedMessage)
}

// checkGrantBody runs the device's checks on a grant body in the order of
// docs/mssl.md, all without RSA: layout, issuer, target, floors, host.
func (s *Server) checkGrantBody(peer netip.AddrPort, body []byte) (*grant.Grant, Alert, bool) {
	// grant.Parse applies the layout rules to body ‖ signature; the
	// signature is checked later, so any bytes of the right length do.
	g, err := grant.Parse(append(bytes.Clone(body), make([]byte, s.cfg.Issuer.Size())...))
	if err != nil {
		return nil, AlertBadGrant, false
	}
	if g.IssuerKeyID != s.keyID && !s.cfg.NoRSA {
		return nil, AlertUnknownIssuer, false
	}
	d := s.cfg.Device
	if g.Group {
		if !d.HasGroup || g.Target != d.GroupID {
			return nil, AlertWrongDevice, false
		}
	} else if g.Target != d.ID {
		return nil, AlertWrongDevice, false
	}
	if g.Serial < s.st.SerialFloor {
		return nil, AlertRevoked, false
	}
	if g.NotAfter < s.st.TimeFloor {
		return nil, AlertExpired, false
	}
	if g.HostIP.IsValid() && (!peer.Addr().IsValid() || peer.Addr().Unmap() != g.HostIP) {
		return nil, AlertWrongHost, false
	}
	return g, 0, true
}

func (s *Server) sealKeyFor(g *grant.Grant) [KeySize]byte {
	if g.Group {
		return s.cfg.Device.GroupKey
	}
	return s.cfg.Device.MasterKey
}

func (s *Server) clientHello(peer netip.AddrPort, msg []byte) [][]byte {
	ch, err := ParseClientHello(msg)
	if err != nil {
		code, _ := AlertOf(err)
		return s.alert(code)
	}
	g, code, ok := s.checkGrantBody(peer, ch.Body[:])
	if !ok {
		return s.alert(code)
	}
	// A device-bound grant may be taken on its seal (the policy): its key
	// derives from the master key, which only the owner and the device
	// hold. A group key is held by every member: group grants need RSA.
	sealOK := !g.Group && s.cfg.SealOK
	if s.cfg.NoRSA && !sealOK {
		return s.alert(AlertBadSignature)
	}
	p := &pending{peer: peer, state: hsAwaitFinished, grant: g}
	p.entry.body = ch.Body
	for i, e := range s.cache {
		if e.body == ch.Body {
			p.entry.kh, p.cached = e.kh, true
			s.touch(i)
			break
		}
	}
	if !p.cached {
		kh, err := grant.OpenHostKey(g, s.sealKeyFor(g))
		if err != nil {
			return s.alert(AlertBadGrant)
		}
		p.entry.kh = kh
	}
	nd, ok := s.nextNonce()
	if !ok {
		return s.alert(AlertInternalError)
	}
	if p.cached || sealOK {
		p.cached, p.flags = true, FlagCached
	}
	if s.cfg.NoRSA {
		p.flags |= FlagNoRSA
	}
	k := DeriveKeys(p.entry.kh, ch.Nh, nd)
	p.c2s = newDirection(k.ClientKey, k.ClientSalt, dirC2S)
	p.s2c = newDirection(k.ServerKey, k.ServerSalt, dirS2C)
	s.hs = p // replaces any handshake in progress; the session stays
	sh := ServerHello{Flags: p.flags, Nd: nd}
	return [][]byte{sh.Marshal()}
}

// touch moves cache entry i to the front (most recently used).
func (s *Server) touch(i int) {
	e := s.cache[i]
	copy(s.cache[1:i+1], s.cache[:i])
	s.cache[0] = e
}

// nextNonce takes the next device nonce, reserving a block of counter
// values in the store first when the reservation is used up.
func (s *Server) nextNonce() ([NonceSize]byte, bool) {
	if s.counter == 0xffffffff {
		return [NonceSize]byte{}, false // exhausted: the device needs a new master key
	}
	if s.counter >= s.st.NonceReserved {
		st := s.st
		st.NonceReserved = s.counter + ReserveBlock
		if st.NonceReserved < s.counter { // wrapped: reserve up to the end
			st.NonceReserved = 0xffffffff
		}
		if err := s.cfg.Store.Save(st); err != nil {
			return [NonceSize]byte{}, false
		}
		s.st = st
	}
	c := s.counter
	s.counter++
	return DeviceNonce(s.knonce, c, s.epoch), true
}

func (s *Server) record(peer netip.AddrPort, msg []byte) [][]byte {
	r, err := ParseRecord(msg)
	if err != nil {
		code, _ := AlertOf(err)
		return s.alert(code)
	}
	if r.Type == RecordFinished {
		return s.clientFinished(peer, msg, r)
	}
	if s.sess == nil || peer != s.sess.peer {
		return s.alert(AlertUnexpectedMessage)
	}
	if r.Seq <= s.sess.lastIn {
		return s.alert(AlertReplay)
	}
	pt, err := s.sess.c2s.open(nil, msg, r, nil)
	if err != nil {
		return s.alert(AlertBadRecordMAC)
	}
	s.sess.lastIn = r.Seq
	s.stats.Records++
	switch r.Type {
	case RecordData:
		return [][]byte{s.task(pt)}
	case RecordAlert:
		if len(pt) == 1 && Alert(pt[0]) == AlertCloseNotify {
			out := s.recordAlert(AlertCloseNotify)
			s.sess = nil
			return [][]byte{out}
		}
		s.stats.Dropped++
		return nil
	case RecordFloor:
		return s.floorBody(pt)
	}
	return nil
}

func (s *Server) clientFinished(peer netip.AddrPort, msg []byte, r Record) [][]byte {
	p := s.hs
	if p == nil || p.state != hsAwaitFinished || peer != p.peer {
		return s.alert(AlertUnexpectedMessage)
	}
	aad := finishedExtra(p.flags, p.entry.body[grant.OffTag:])
	if r.Seq != 0 || len(r.Sealed) != TagSize {
		s.hs = nil
		return s.alert(AlertBadRecordMAC)
	}
	if _, err := p.c2s.open(nil, msg, r, aad); err != nil {
		s.hs = nil // one try per ServerHello: a replayed or forged Finished ends it
		return s.alert(AlertBadRecordMAC)
	}
	if !p.cached {
		p.state = hsAwaitSignature
		return [][]byte{{TypeSignatureRequest}}
	}
	s.stats.CacheHits++
	return s.establish()
}

func (s *Server) grantSignature(peer netip.AddrPort, msg []byte) [][]byte {
	p := s.hs
	if p == nil || p.state != hsAwaitSignature || peer != p.peer || s.cfg.NoRSA {
		return s.alert(AlertUnexpectedMessage)
	}
	sig := msg[1:]
	if len(sig) != s.cfg.Issuer.Size() {
		s.hs = nil
		return s.alert(AlertDecodeError)
	}
	s.stats.RSAVerifies++
	d := sha256.Sum256(p.entry.body[:])
	if rsa.VerifyPKCS1v15(s.cfg.Issuer, crypto.SHA256, d[:], sig) != nil {
		s.hs = nil
		return s.alert(AlertBadSignature)
	}
	// Cache the verified grant (least recently used out).
	if len(s.cache) < s.cfg.CacheSize {
		s.cache = append(s.cache, cacheEntry{})
	}
	copy(s.cache[1:], s.cache[:len(s.cache)-1])
	s.cache[0] = p.entry
	return s.establish()
}

// establish moves the time floor, then replaces the session with the
// pending handshake's and sends ServerFinished.
func (s *Server) establish() [][]byte {
	p := s.hs
	s.hs = nil
	// The floors may have risen since the ClientHello (a handshake parked
	// across a floor statement): they hold when the session starts.
	if p.grant.Serial < s.st.SerialFloor {
		return s.alert(AlertRevoked)
	}
	if p.grant.NotAfter < s.st.TimeFloor {
		return s.alert(AlertExpired)
	}
	if p.grant.IssuedAt > s.st.TimeFloor {
		st := s.st
		st.TimeFloor = p.grant.IssuedAt
		if err := s.cfg.Store.Save(st); err != nil {
			return s.alert(AlertInternalError)
		}
		s.st = st
	}
	s.sess = &session{peer: p.peer, grant: p.grant, c2s: p.c2s, s2c: p.s2c}
	s.stats.Handshakes++
	s.sess.nextOut = 1
	return [][]byte{p.s2c.seal(nil, RecordFinished, 0, nil, finishedExtra(p.flags, p.entry.body[grant.OffTag:]))}
}

// task serves one task request: the grant decides, then the task service.
func (s *Server) task(req []byte) []byte {
	if len(req) < tasks.RequestHeaderLen {
		return s.recordAlert(AlertDecodeError)
	}
	t, id, args, _ := tasks.ParseRequest(req)
	var st tasks.Status
	var res []byte
	switch {
	case req[0] != tasks.Version:
		st = tasks.StatusBadVersion
	case !s.sess.grant.Tasks.Has(t):
		st = tasks.StatusDenied
	default:
		st, res = s.cfg.Tasks(t, args)
		if st != tasks.StatusOK {
			res = nil
		}
	}
	if max := MaxRecordPlaintext - tasks.ReplyHeaderLen; len(res) > max {
		res, st = nil, tasks.StatusFailed
	}
	return s.sealOut(RecordData, tasks.AppendReply(nil, t, id, st, res))
}

// floorBody takes the body of a floor statement (an authenticated record)
// and asks for its signature.
func (s *Server) floorBody(pt []byte) [][]byte {
	if s.cfg.NoRSA {
		return s.floorWithMAC(pt)
	}
	f, err := ParseFloorBody(pt)
	if err != nil {
		code, _ := AlertOf(err)
		return [][]byte{s.recordAlert(code)}
	}
	if f.IssuerKeyID != s.keyID {
		return [][]byte{s.recordAlert(AlertUnknownIssuer)}
	}
	d := s.cfg.Device
	if (f.Group && (!d.HasGroup || f.Target != d.GroupID)) || (!f.Group && f.Target != d.ID) {
		return [][]byte{s.recordAlert(AlertWrongDevice)}
	}
	s.sess.floor, s.sess.floorRaw = f, bytes.Clone(pt)
	return [][]byte{s.sealOut(RecordFloor, []byte{floorStatusSendSig})}
}

// floorWithMAC takes a whole floor statement on a device without RSA:
// body ‖ device MAC in one Floor record, device-bound only; the issuer key
// id is not checked (no SHA-256 on such a device).
func (s *Server) floorWithMAC(pt []byte) [][]byte {
	if len(pt) != FloorBodySize+FloorMACSize {
		return [][]byte{s.recordAlert(AlertDecodeError)}
	}
	f, err := ParseFloorBody(pt[:FloorBodySize])
	if err != nil {
		code, _ := AlertOf(err)
		return [][]byte{s.recordAlert(code)}
	}
	if f.Group || f.Target != s.cfg.Device.ID {
		return [][]byte{s.recordAlert(AlertWrongDevice)}
	}
	f.MAC = pt[FloorBodySize:]
	if VerifyFloorMAC(f, s.cfg.Device.MasterKey) != nil {
		return [][]byte{s.recordAlert(AlertBadSignature)}
	}
	return s.applyFloors(f)
}

func (s *Server) floorSignature(peer netip.AddrPort, msg []byte) [][]byte {
	if s.sess == nil || s.sess.floor == nil || peer != s.sess.peer || s.cfg.NoRSA {
		return s.alert(AlertUnexpectedMessage)
	}
	f, body := s.sess.floor, s.sess.floorRaw
	s.sess.floor, s.sess.floorRaw = nil, nil // one signature per body
	sig := msg[1:]
	if len(sig) != s.cfg.Issuer.Size() {
		return s.alert(AlertDecodeError)
	}
	s.stats.RSAVerifies++
	dg := sha256.Sum256(body)
	if rsa.VerifyPKCS1v15(s.cfg.Issuer, crypto.SHA256, dg[:], sig) != nil {
		return s.alert(AlertBadSignature)
	}
	return s.applyFloors(f)
}

// applyFloors raises the floors an authenticated statement states and
// answers with the floors now; the session ends when its own grant falls
// below them.
func (s *Server) applyFloors(f *Floor) [][]byte {
	st := s.st
	st.SerialFloor = max(st.SerialFloor, f.SerialFloor)
	st.TimeFloor = max(st.TimeFloor, f.TimeFloor)
	if st != s.st {
		if err := s.cfg.Store.Save(st); err != nil {
			return [][]byte{s.recordAlert(AlertInternalError)}
		}
		s.st = st
	}
	reply := make([]byte, 0, floorReplySize)
	reply = append(reply, floorStatusDone)
	reply = append(reply, be32(st.SerialFloor)...)
	reply = append(reply, be32(st.TimeFloor)...)
	out := [][]byte{s.sealOut(RecordFloor, reply)}
	// The session's own grant may have just been revoked or expired.
	g := s.sess.grant
	switch {
	case g.Serial < st.SerialFloor:
		out = append(out, s.recordAlert(AlertRevoked))
		s.sess = nil
	case g.NotAfter < st.TimeFloor:
		out = append(out, s.recordAlert(AlertExpired))
		s.sess = nil
	}
	return out
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
