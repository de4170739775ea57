package link

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/quic-go/quic-go"
)

// sealedCIDs generates the connection IDs a link's QUIC transport issues,
// in a form only it can recognise: a connection ID is one AES block, the
// encryption under a key of this process of a random 8-byte nonce and 8
// zero bytes. So the packets a peer sends to this transport (1-RTT
// packets carry the connection ID this side issued) can be told from
// forged ones with one block decryption, without a connection lookup:
// yieldingConn counts only those in its wait for the run loops, and a
// stranger's short-header junk cannot make the reader wait. Unlike
// quic-go's default random IDs, these are still unlinkable (a block
// cipher's outputs for distinct inputs look independent) and unique (the
// cipher is a permutation, and nonces do not repeat among a process's
// connection IDs but with probability about n²/2⁶⁵).
type sealedCIDs struct {
	block cipher.Block
}

// cidLen is the length of sealed connection IDs: one AES block.
const cidLen = aes.BlockSize

func newSealedCIDs() *sealedCIDs {
	key := make([]byte, 16)
	rand.Read(key) // never fails (crypto/rand, Go 1.24 on)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("link: AES-128 with a 16-byte key: %v", err)) // cannot happen
	}
	return &sealedCIDs{block: block}
}

// GenerateConnectionID implements quic.ConnectionIDGenerator.
func (s *sealedCIDs) GenerateConnectionID() (quic.ConnectionID, error) {
	var b [cidLen]byte
	rand.Read(b[:8]) // never fails (crypto/rand, Go 1.24 on)
	s.block.Encrypt(b[:], b[:])
	return quic.ConnectionIDFromBytes(b[:]), nil
}

// ConnectionIDLen implements quic.ConnectionIDGenerator.
func (s *sealedCIDs) ConnectionIDLen() int { return cidLen }

// ours reports whether cid (at least cidLen bytes: the destination
// connection ID of a short-header packet starts at its second byte) was
// generated here.
func (s *sealedCIDs) ours(cid []byte) bool {
	if len(cid) < cidLen {
		return false
	}
	var b [cidLen]byte
	s.block.Decrypt(b[:], cid[:cidLen])
	return binary.BigEndian.Uint64(b[8:]) == 0
}
