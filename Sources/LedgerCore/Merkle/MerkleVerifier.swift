/// Why a Merkle proof was rejected or could not be built.
public enum MerkleProofError: Error, Equatable, Sendable, CustomStringConvertible {
    case indexOutOfRange(index: UInt64, size: UInt64)
    case sizesOutOfOrder(first: UInt64, second: UInt64)
    case emptyFirstTree
    case badHashLength(Int)
    case wrongProofLength
    case rootMismatch
    case missingNode(String)

    public var description: String {
        switch self {
        case .indexOutOfRange(let i, let n): "leaf index \(i) is not below tree size \(n)"
        case .sizesOutOfOrder(let a, let b): "first size \(a) is greater than second size \(b)"
        case .emptyFirstTree: "a consistency proof from the empty tree is meaningless"
        case .badHashLength(let n): "a hash in the proof is \(n) bytes, not 32"
        case .wrongProofLength: "the proof has the wrong number of hashes for these sizes"
        case .rootMismatch: "the proof does not lead to the expected root"
        case .missingNode(let what): "a log node needed for the proof is missing: \(what)"
        }
    }
}

/// RFC 9162 proof verification, usable by outsiders who never run the log (no state, no I/O).
public enum MerkleVerifier {
    /// Verifies an inclusion proof (RFC 9162 §2.1.3.2). Hashes are raw bytes because they come
    /// from untrusted input; any that are not 32 bytes make the proof fail.
    public static func verifyInclusion(leafHash: [UInt8], index: UInt64, size: UInt64,
                                       proof: [[UInt8]], root: [UInt8]) throws(MerkleProofError) {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        guard leafHash.count == 32 else { throw .badHashLength(leafHash.count) }
        for element in proof where element.count != 32 { throw .badHashLength(element.count) }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw .wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHashing.nodeHash(raw: p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = MerkleHashing.nodeHash(raw: r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength }
        guard r == root else { throw .rootMismatch }
    }

    /// Typed convenience for `verifyInclusion`.
    public static func verifyInclusion(leafHash: Hash256, index: UInt64, size: UInt64,
                                       proof: [Hash256], root: Hash256) throws(MerkleProofError) {
        try verifyInclusion(leafHash: leafHash.bytes, index: index, size: size,
                            proof: proof.map(\.bytes), root: root.bytes)
    }

    /// Verifies a consistency proof (RFC 9162 §2.1.4.2) with the transparency-dev edge rules:
    /// first > second fails; first == 0 fails; equal sizes need an empty proof and equal roots.
    public static func verifyConsistency(first: UInt64, second: UInt64, firstRoot: [UInt8],
                                         secondRoot: [UInt8], proof: [[UInt8]]) throws(MerkleProofError) {
        guard first <= second else { throw .sizesOutOfOrder(first: first, second: second) }
        guard first > 0 else { throw .emptyFirstTree }
        if first == second {
            guard proof.isEmpty else { throw .wrongProofLength }
            guard firstRoot == secondRoot else { throw .rootMismatch }
            return
        }
        guard !proof.isEmpty else { throw .wrongProofLength }
        for element in proof where element.count != 32 { throw .badHashLength(element.count) }
        var path = proof
        // A power-of-two first tree is itself a node of the second; the proof omits it.
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        var fn = first - 1
        var sn = second - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw .wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHashing.nodeHash(raw: c, fr)
                sr = MerkleHashing.nodeHash(raw: c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = MerkleHashing.nodeHash(raw: sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength }
        guard fr == firstRoot, sr == secondRoot else { throw .rootMismatch }
    }

    /// Typed convenience for `verifyConsistency`.
    public static func verifyConsistency(first: UInt64, second: UInt64, firstRoot: Hash256,
                                         secondRoot: Hash256, proof: [Hash256]) throws(MerkleProofError) {
        try verifyConsistency(first: first, second: second, firstRoot: firstRoot.bytes,
                              secondRoot: secondRoot.bytes, proof: proof.map(\.bytes))
    }
}
