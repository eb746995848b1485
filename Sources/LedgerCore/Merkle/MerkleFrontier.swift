/// The right edge of an append-only RFC 9162 tree: one perfect-subtree root per set bit of the
/// size. Appending is O(1) amortized and reports each perfect subtree it completes, so a store
/// can keep every node and serve proofs in O(log n) reads.
public struct MerkleFrontier: Sendable, Equatable {
    /// A perfect subtree root: covers leaves [index·2^level, (index+1)·2^level).
    public struct Node: Sendable, Equatable {
        public let level: Int
        public let index: UInt64
        public let hash: Hash256
        public init(level: Int, index: UInt64, hash: Hash256) { (self.level, self.index, self.hash) = (level, index, hash) }
    }

    /// Number of leaves.
    public private(set) var size: UInt64 = 0
    /// Peaks from the largest (leftmost) subtree to the smallest.
    public private(set) var peaks: [Node] = []

    public init() {}

    /// Rebuilds the frontier of a tree of `size` leaves from stored perfect subtrees (≤ 64 reads).
    public init(size: UInt64, source: some MerkleNodeSource) throws {
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (UInt64(1) << level) != 0 {
            let index = start >> level
            peaks.append(Node(level: level, index: index, hash: try source.subtreeHash(level: level, index: index)))
            start += UInt64(1) << level
        }
        self.size = size
    }

    /// Appends a leaf hash; returns the interior nodes (level ≥ 1) this completed, bottom up.
    @discardableResult
    public mutating func append(leafHash: Hash256) -> [Node] {
        var completed: [Node] = []
        var node = Node(level: 0, index: size, hash: leafHash)
        while let last = peaks.last, last.level == node.level {
            peaks.removeLast()
            node = Node(level: node.level + 1, index: last.index >> 1, hash: MerkleHashing.nodeHash(last.hash, node.hash))
            completed.append(node)
        }
        peaks.append(node)
        size += 1
        return completed
    }

    /// The RFC 9162 tree head of the current leaves.
    public var root: Hash256 {
        guard var result = peaks.last?.hash else { return MerkleHashing.emptyRoot }
        for peak in peaks.dropLast().reversed() { result = MerkleHashing.nodeHash(peak.hash, result) }
        return result
    }
}
