/// Where proof building reads perfect-subtree hashes: level 0 is leaf hashes; (level, index)
/// covers leaves [index·2^level, (index+1)·2^level). Implemented by stores and by `MemoryMerkleTree`.
public protocol MerkleNodeSource {
    /// The hash of a complete perfect subtree; throws if it is not stored.
    func subtreeHash(level: Int, index: UInt64) throws -> Hash256
}

/// Builds RFC 9162 §2.1.3.1 inclusion and §2.1.4.1 consistency proofs from a node source.
/// Each proof needs O(log n) subtree reads.
public struct MerkleProofBuilder {
    let source: any MerkleNodeSource

    public init(source: any MerkleNodeSource) { self.source = source }

    /// MTH(D[lo:hi]) for a non-empty range that the RFC recursion produces (perfect parts aligned).
    public func treeHash(from lo: UInt64, to hi: UInt64) throws -> Hash256 {
        precondition(hi > lo, "empty range")
        let n = hi - lo
        if n & (n - 1) == 0 {
            let level = n.trailingZeroBitCount
            precondition(lo % n == 0, "perfect subtree must be aligned")
            return try source.subtreeHash(level: level, index: lo >> level)
        }
        let k = MerkleHashing.splitPoint(n)
        return MerkleHashing.nodeHash(try treeHash(from: lo, to: lo + k), try treeHash(from: lo + k, to: hi))
    }

    /// Root of the first `size` leaves.
    public func root(size: UInt64) throws -> Hash256 {
        size == 0 ? MerkleHashing.emptyRoot : try treeHash(from: 0, to: size)
    }

    /// Audit path for leaf `index` in the tree of the first `size` leaves, leaf-side first.
    public func inclusionProof(index: UInt64, size: UInt64) throws(MerkleProofError) -> [Hash256] {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        var proof: [Hash256] = []
        do { try path(index, lo: 0, hi: size, into: &proof) } catch { throw .missingNode("\(error)") }
        return proof
    }

    /// Proof that the tree of `second` leaves extends the tree of `first` leaves.
    public func consistencyProof(first: UInt64, second: UInt64) throws(MerkleProofError) -> [Hash256] {
        guard first <= second else { throw .sizesOutOfOrder(first: first, second: second) }
        guard first > 0, first < second else { return [] }
        var proof: [Hash256] = []
        do { try subproof(first, lo: 0, hi: second, complete: true, into: &proof) } catch {
            throw .missingNode("\(error)")
        }
        return proof
    }

    private func path(_ m: UInt64, lo: UInt64, hi: UInt64, into proof: inout [Hash256]) throws {
        let n = hi - lo
        guard n > 1 else { return }
        let k = MerkleHashing.splitPoint(n)
        if m < k {
            try path(m, lo: lo, hi: lo + k, into: &proof)
            proof.append(try treeHash(from: lo + k, to: hi))
        } else {
            try path(m - k, lo: lo + k, hi: hi, into: &proof)
            proof.append(try treeHash(from: lo, to: lo + k))
        }
    }

    private func subproof(_ m: UInt64, lo: UInt64, hi: UInt64, complete: Bool, into proof: inout [Hash256]) throws {
        let n = hi - lo
        if m == n {
            if !complete { proof.append(try treeHash(from: lo, to: hi)) }
            return
        }
        let k = MerkleHashing.splitPoint(n)
        if m <= k {
            try subproof(m, lo: lo, hi: lo + k, complete: complete, into: &proof)
            proof.append(try treeHash(from: lo + k, to: hi))
        } else {
            try subproof(m - k, lo: lo + k, hi: hi, complete: false, into: &proof)
            proof.append(try treeHash(from: lo, to: lo + k))
        }
    }
}

/// An in-memory tree that keeps every perfect subtree; for tests, the verifier and small logs.
public struct MemoryMerkleTree: MerkleNodeSource, Sendable {
    /// levels[l][i] = hash of perfect subtree (l, i).
    public private(set) var levels: [[Hash256]] = [[]]
    private var frontier = MerkleFrontier()

    public init() {}

    /// Builds a tree over the given leaf inputs.
    public init(leafInputs: [[UInt8]]) {
        for input in leafInputs { append(leafHash: MerkleHashing.leafHash(input)) }
    }

    /// Number of leaves.
    public var size: UInt64 { frontier.size }
    /// Current root.
    public var root: Hash256 { frontier.root }

    /// Appends a leaf hash.
    public mutating func append(leafHash: Hash256) {
        levels[0].append(leafHash)
        for node in frontier.append(leafHash: leafHash) {
            if levels.count <= node.level { levels.append([]) }
            precondition(levels[node.level].count == Int(node.index), "subtrees complete in order")
            levels[node.level].append(node.hash)
        }
    }

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        guard level < levels.count, index < UInt64(levels[level].count) else {
            throw MerkleProofError.missingNode("level \(level) index \(index)")
        }
        return levels[level][Int(index)]
    }

    /// A proof builder over this tree.
    public var proofs: MerkleProofBuilder { MerkleProofBuilder(source: self) }
}
