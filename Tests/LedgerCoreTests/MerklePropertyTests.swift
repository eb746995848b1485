import LedgerCore
import Testing

@Suite("Merkle log properties on random trees")
struct MerklePropertyTests {
    static func tree(size: Int) -> MemoryMerkleTree {
        MemoryMerkleTree(leafInputs: (0..<size).map { Array("leaf-\($0)".utf8) })
    }

    @Test(arguments: [1, 2, 3, 7, 64, 65, 1_000, 3_001])
    func proofsVerifyAndMutationsFail(size: Int) throws {
        var rng = SplitMix64(seed: UInt64(size))
        let tree = Self.tree(size: size)
        let n = UInt64(size)
        for _ in 0..<min(size, 40) {
            let index = UInt64.random(in: 0..<n, using: &rng)
            let leaf = try tree.subtreeHash(level: 0, index: index)
            let proof = try tree.proofs.inclusionProof(index: index, size: n)
            try MerkleVerifier.verifyInclusion(leafHash: leaf, index: index, size: n, proof: proof, root: tree.root)
            if !proof.isEmpty {
                var flipped = proof.map(\.bytes)
                let element = Int.random(in: 0..<flipped.count, using: &rng)
                flipped[element][Int.random(in: 0..<32, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                #expect(throws: MerkleProofError.self) {
                    try MerkleVerifier.verifyInclusion(leafHash: leaf.bytes, index: index, size: n, proof: flipped, root: tree.root.bytes)
                }
                #expect(throws: MerkleProofError.self) {
                    try MerkleVerifier.verifyInclusion(leafHash: leaf, index: index, size: n, proof: Array(proof.dropLast()), root: tree.root)
                }
            }
            #expect(throws: MerkleProofError.self) {
                try MerkleVerifier.verifyInclusion(leafHash: leaf, index: index, size: n, proof: proof + [leaf], root: tree.root)
            }
            if n > 1 {
                let other = (index + 1) % n
                #expect(throws: MerkleProofError.self) {
                    try MerkleVerifier.verifyInclusion(leafHash: leaf, index: other, size: n, proof: proof, root: tree.root)
                }
            }
            // A size past the leaf count of the proof's tree, with the index beyond it, must fail.
            #expect(throws: MerkleProofError.self) {
                try MerkleVerifier.verifyInclusion(leafHash: leaf, index: n, size: n, proof: proof, root: tree.root)
            }

            let first = UInt64.random(in: 1...n, using: &rng)
            let older = Self.tree(size: Int(first))
            let consistency = try tree.proofs.consistencyProof(first: first, second: n)
            try MerkleVerifier.verifyConsistency(first: first, second: n, firstRoot: older.root, secondRoot: tree.root, proof: consistency)
            if !consistency.isEmpty {
                var bad = consistency
                bad[0] = MerkleHashing.leafHash(bad[0].bytes)
                #expect(throws: MerkleProofError.self) {
                    try MerkleVerifier.verifyConsistency(first: first, second: n, firstRoot: older.root, secondRoot: tree.root, proof: bad)
                }
                #expect(throws: MerkleProofError.self) {
                    try MerkleVerifier.verifyConsistency(first: first, second: n, firstRoot: tree.root, secondRoot: older.root, proof: consistency)
                }
            }
        }
    }

    @Test func frontierMatchesTreeAndRestores() throws {
        var frontier = MerkleFrontier()
        var tree = MemoryMerkleTree()
        var completed = Set<String>()
        for index in 0..<2_049 {
            let leaf = MerkleHashing.leafHash(Array("x\(index)".utf8))
            tree.append(leafHash: leaf)
            for node in frontier.append(leafHash: leaf) {
                #expect(completed.insert("\(node.level)/\(node.index)").inserted, "each perfect subtree is completed once")
                #expect(try tree.subtreeHash(level: node.level, index: node.index) == node.hash)
            }
            #expect(frontier.root == tree.root)
            if index % 97 == 0 { #expect(try MerkleFrontier(size: frontier.size, source: tree) == frontier) }
        }
        // 2,049 leaves = a perfect tree of 2,048 (2,047 interior nodes) plus one lone leaf.
        #expect(completed.count == 2_047)
        #expect(try tree.proofs.root(size: 2_049) == tree.root)
    }
}
