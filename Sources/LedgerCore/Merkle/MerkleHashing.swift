/// RFC 9162 §2.1.1 hashing: leaf = SHA-256(0x00 ‖ input), node = SHA-256(0x01 ‖ left ‖ right).
public enum MerkleHashing {
    /// The root of the empty tree, SHA-256 of the empty string.
    public static let emptyRoot = Hash256.sha256([UInt8]())

    /// Hash of a leaf with the given input bytes.
    public static func leafHash(_ input: some Collection<UInt8>) -> Hash256 {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(input.count + 1)
        buffer.append(0x00)
        buffer.append(contentsOf: input)
        return buffer.withUnsafeBytes { Hash256.sha256(buffer: $0) }
    }

    /// Hash of an interior node.
    public static func nodeHash(_ left: Hash256, _ right: Hash256) -> Hash256 {
        // 65 bytes on the stack: prefix, left, right; no heap allocation.
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 8) { buffer in
            buffer[0] = 0x01
            left.withBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[1..<33]).copyMemory(from: $0) }
            right.withBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[33..<65]).copyMemory(from: $0) }
            return Hash256.sha256(buffer: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Hash of an interior node over raw (possibly non-32-byte) children, for verifying untrusted proofs.
    static func nodeHash(raw left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        Hash256.sha256([0x01] + left + right).bytes
    }

    /// Largest power of two strictly less than `n` (n ≥ 2).
    static func splitPoint(_ n: UInt64) -> UInt64 {
        precondition(n >= 2, "split needs at least two leaves")
        return UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }
}
