// Package crc32x combines CRC-32 (IEEE) checksums in GF(2), after zlib's
// crc32_combine: the CRC of A‖B from the CRCs of A and B and B's length.
// The simulator uses it to checksum gigabytes of repeated padding without
// hashing every byte; the benchmark's S3 sink to check a multipart object
// from its parts' CRCs, which arrive out of order.
package crc32x

const crcPoly = 0xedb88320 // IEEE, reflected

// crcX2n[k] is x^(2^k) mod P.
var crcX2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = crcMulModP(p, p)
		t[k] = p
	}
	return t
}()

// crcMulModP multiplies a and b modulo P; a must not be zero.
func crcMulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
}

// crcX8n is x^(8n) mod P: the shift a CRC undergoes over n bytes.
func crcX8n(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = crcMulModP(crcX2n[k&31], p)
		}
	}
	return p
}

// Combine returns the CRC-32 of A‖B from crcA, crcB and len(B).
func Combine(crcA, crcB uint32, lenB int64) uint32 {
	return crcMulModP(crcX8n(lenB), crcA) ^ crcB
}
