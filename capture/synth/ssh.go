package synth

import (
	"encoding/binary"
	"time"
)

// SSH message numbers used by the builders (RFC 4253, RFC 5656).
const (
	sshMsgNewKeys      = 21
	sshMsgKexInit      = 20
	sshMsgKexECDHInit  = 30
	sshMsgKexECDHReply = 31
)

// SSHBanner is the identification line: version + CRLF.
func SSHBanner(version string) []byte { return []byte(version + "\r\n") }

// SSHPacket frames payload as an unencrypted binary packet: length,
// padding length, payload, padding to a multiple of 8 (at least 4 bytes).
func SSHPacket(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	b = append(b, byte(pad))
	b = append(b, payload...)
	return append(b, make([]byte, pad)...)
}

// SSHKexInit is an OpenSSH-like KEXINIT packet (the client's advertises
// ext-info-c, the server's the strict-kex marker).
func SSHKexInit(cookie [16]byte, server bool) []byte {
	kex := "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256,ext-info-c"
	if server {
		kex = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
	}
	const (
		hostKey = "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256"
		cipher  = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr"
		mac     = "umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256"
		comp    = "none,zlib@openssh.com"
	)
	b := append([]byte{sshMsgKexInit}, cookie[:]...)
	for _, l := range []string{kex, hostKey, cipher, cipher, mac, mac, comp, comp, "", ""} {
		b = sshString(b, []byte(l))
	}
	b = append(b, 0)          // first_kex_packet_follows
	b = append(b, 0, 0, 0, 0) // reserved
	return SSHPacket(b)
}

// SSHKexECDHInit carries the client's ephemeral X25519 key.
func SSHKexECDHInit(q [32]byte) []byte {
	return SSHPacket(sshString([]byte{sshMsgKexECDHInit}, q[:]))
}

// SSHKexECDHReply carries the server's Ed25519 host key, its ephemeral key
// and the exchange-hash signature (opaque here).
func SSHKexECDHReply(hostKey, q [32]byte, sig [64]byte) []byte {
	key := sshString(sshString(nil, []byte("ssh-ed25519")), hostKey[:])
	sg := sshString(sshString(nil, []byte("ssh-ed25519")), sig[:])
	b := []byte{sshMsgKexECDHReply}
	b = sshString(b, key)
	b = sshString(b, q[:])
	b = sshString(b, sg)
	return SSHPacket(b)
}

// SSHNewKeys ends the key exchange; later packets are encrypted.
func SSHNewKeys() []byte { return SSHPacket([]byte{sshMsgNewKeys}) }

func sshString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// SSHSession describes an SSH connection for Scenario.SSH.
type SSHSession struct {
	ClientVersion string // default "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"
	ServerVersion string // default "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"
	Exchanges     []Exchange
}

// SSH plans an SSH connection: banners, the curve25519 key exchange, then
// the exchanges as opaque encrypted packets, closed by the client. The
// manifest notes both versions.
func (s *Scenario) SSH(ep Endpoints, at time.Duration, sess SSHSession, opt TCPOptions) *TCP {
	cv, sv := sess.ClientVersion, sess.ServerVersion
	if cv == "" {
		cv = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"
	}
	if sv == "" {
		sv = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"
	}
	c := s.TCP(ep, at, "ssh", opt)
	var cc, sc [16]byte
	var qc, qs, hk [32]byte
	var sig [64]byte
	fillBytes(s.rng.Uint64(), cc[:], sc[:], qc[:], qs[:], hk[:], sig[:])
	c.Send(ToClient, Bytes(SSHBanner(sv)), time.Millisecond)
	c.Send(ToServer, Bytes(SSHBanner(cv)), 100*time.Microsecond)
	c.Send(ToServer, Bytes(SSHKexInit(cc, false)), 100*time.Microsecond)
	c.Send(ToClient, Bytes(SSHKexInit(sc, true)), time.Millisecond)
	c.Send(ToServer, Bytes(SSHKexECDHInit(qc)), 200*time.Microsecond)
	c.Send(ToClient, Concat(Bytes(SSHKexECDHReply(hk, qs, sig)), Bytes(SSHNewKeys())), 2*time.Millisecond)
	c.Send(ToServer, Bytes(SSHNewKeys()), 300*time.Microsecond)
	for _, e := range sess.Exchanges {
		c.Send(ToServer, Random(e.Up), e.Think)
		c.Send(ToClient, Random(e.Down), time.Millisecond)
	}
	c.Close(ToServer, 10*time.Millisecond)
	c.Note("client_version", cv)
	c.Note("server_version", sv)
	return c
}
