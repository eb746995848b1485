import Foundation
import LedgerCore
import Testing

/// The committed RFC 6962 / RFC 9162 vectors (copied from ../shared/data/merkle with their NOTICE).
enum MerkleVectors {
    static var root: URL { Bundle.module.url(forResource: "Vectors", withExtension: nil)!.appendingPathComponent("merkle") }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(relative))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func hex(_ any: Any?) -> [UInt8] { Hex.decode(any as? String ?? "") ?? [] }

    /// JSON numbers up to UInt64.max (one published case uses it).
    static func u64(_ any: Any?) -> UInt64 { (any as? NSNumber)?.uint64Value ?? UInt64.max }

    /// Files of the older layout under `inclusion/` or `consistency/`, recursively.
    static func files(under folder: String) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }
}

@Suite("RFC 6962 Merkle vectors")
struct RFC6962VectorTests {
    @Test func rootsLeavesAndNodesMatch() throws {
        let vectors = try MerkleVectors.json("rfc6962-vectors.json")
        let leaves = try #require(vectors["leaves"] as? [[String: Any]])
        let inputs = leaves.map { MerkleVectors.hex($0["input"]) }
        #expect(inputs.count == 8)
        for (index, leaf) in leaves.enumerated() {
            #expect(MerkleHashing.leafHash(inputs[index]).bytes == MerkleVectors.hex(leaf["leaf_hash"]))
        }
        let roots = try #require(vectors["roots"] as? [[String: Any]])
        #expect(roots.count == 9)
        for entry in roots {
            let size = try #require(entry["tree_size"] as? Int)
            #expect(MemoryMerkleTree(leafInputs: Array(inputs.prefix(size))).root.bytes == MerkleVectors.hex(entry["root"]), "size \(size)")
        }
        let trees = try MerkleVectors.json("rfc6962-trees.json")
        let treeInputs = (trees["leaf_inputs_hex"] as? [String] ?? []).map { Hex.decode($0)! }
        #expect(treeInputs == inputs)
        let treeRoots = try #require(trees["roots_hex"] as? [String: String])
        #expect(treeRoots.count == 9)
        for (sizeText, rootHex) in treeRoots {
            let size = try #require(Int(sizeText))
            #expect(MemoryMerkleTree(leafInputs: Array(inputs.prefix(size))).root.bytes == Hex.decode(rootHex), "rfc6962-trees size \(size)")
        }
        #expect((trees["leaf_hashes_hex"] as? [String])?.map { Hex.decode($0)! } == inputs.map { MerkleHashing.leafHash($0).bytes })
    }

    @Test func everyInclusionCase() throws {
        let cases = try #require(try MerkleVectors.json("rfc6962-vectors.json")["inclusion"] as? [[String: Any]])
        #expect(cases.count == 134)
        var valid = 0
        for entry in cases {
            let name = entry["name"] as? String ?? "?"
            let outcome = Result { () throws(MerkleProofError) in
                try MerkleVerifier.verifyInclusion(
                    leafHash: MerkleVectors.hex(entry["leaf_hash"]), index: MerkleVectors.u64(entry["leaf_index"]),
                    size: MerkleVectors.u64(entry["tree_size"]), proof: (entry["proof"] as? [String] ?? []).map { Hex.decode($0) ?? [] },
                    root: MerkleVectors.hex(entry["root"]))
            }
            let accepted = (try? outcome.get()) != nil
            #expect(accepted == (entry["valid"] as? Bool), "\(name): \(outcome)")
            if accepted { valid += 1 }
        }
        #expect(valid == 42, "6 published + 36 generated valid cases")
    }

    @Test func everyConsistencyCase() throws {
        let cases = try #require(try MerkleVectors.json("rfc6962-vectors.json")["consistency"] as? [[String: Any]])
        #expect(cases.count == 134)
        var valid = 0
        for entry in cases {
            let name = entry["name"] as? String ?? "?"
            let outcome = Result { () throws(MerkleProofError) in
                try MerkleVerifier.verifyConsistency(
                    first: MerkleVectors.u64(entry["size1"]), second: MerkleVectors.u64(entry["size2"]),
                    firstRoot: MerkleVectors.hex(entry["root1"]), secondRoot: MerkleVectors.hex(entry["root2"]),
                    proof: (entry["proof"] as? [String] ?? []).map { Hex.decode($0) ?? [] })
            }
            let accepted = (try? outcome.get()) != nil
            #expect(accepted == (entry["valid"] as? Bool), "\(name): \(outcome)")
            if accepted { valid += 1 }
        }
        #expect(valid == 42)
    }

    @Test func olderLayoutInclusionFiles() throws {
        let files = MerkleVectors.files(under: "inclusion")
        #expect(files.count == 98)
        for file in files {
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
            let b64 = { (value: Any?) in Base64.decode(value as? String ?? "") ?? [] }
            let accepted = (try? MerkleVerifier.verifyInclusion(
                leafHash: b64(entry["leafHash"]), index: MerkleVectors.u64(entry["leafIdx"]), size: MerkleVectors.u64(entry["treeSize"]),
                proof: (entry["proof"] as? [String] ?? []).map { b64($0) }, root: b64(entry["root"]))) != nil
            #expect(accepted == !(entry["wantErr"] as! Bool), "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent)")
        }
    }

    @Test func olderLayoutConsistencyFiles() throws {
        let files = MerkleVectors.files(under: "consistency")
        #expect(files.count == 98)
        for file in files {
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
            let b64 = { (value: Any?) in Base64.decode(value as? String ?? "") ?? [] }
            let accepted = (try? MerkleVerifier.verifyConsistency(
                first: MerkleVectors.u64(entry["size1"]), second: MerkleVectors.u64(entry["size2"]),
                firstRoot: b64(entry["root1"]), secondRoot: b64(entry["root2"]),
                proof: (entry["proof"] as? [String] ?? []).map { b64($0) })) != nil
            #expect(accepted == !(entry["wantErr"] as! Bool), "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent)")
        }
    }

    @Test func builtProofsMatchGeneratedVectors() throws {
        let vectors = try MerkleVectors.json("rfc6962-vectors.json")
        let inputs = (vectors["leaves"] as! [[String: Any]]).map { MerkleVectors.hex($0["input"]) }
        var checked = 0
        for entry in vectors["inclusion"] as! [[String: Any]] where entry["valid"] as? Bool == true {
            let size = entry["tree_size"] as! Int
            guard size <= 8 else { continue }
            let tree = MemoryMerkleTree(leafInputs: Array(inputs.prefix(size)))
            let proof = try tree.proofs.inclusionProof(index: MerkleVectors.u64(entry["leaf_index"]), size: UInt64(size))
            #expect(proof.map(\.bytes) == (entry["proof"] as? [String] ?? []).map { Hex.decode($0)! }, "\(entry["name"]!)")
            checked += 1
        }
        for entry in vectors["consistency"] as! [[String: Any]] where entry["valid"] as? Bool == true {
            let (first, second) = (entry["size1"] as! Int, entry["size2"] as! Int)
            guard second <= 8 else { continue }
            let tree = MemoryMerkleTree(leafInputs: Array(inputs.prefix(second)))
            let proof = try tree.proofs.consistencyProof(first: UInt64(first), second: UInt64(second))
            #expect(proof.map(\.bytes) == (entry["proof"] as? [String] ?? []).map { Hex.decode($0)! }, "\(entry["name"]!)")
            checked += 1
        }
        #expect(checked >= 72)
    }
}

@Suite("Committed Merkle vectors match ../shared/data/merkle")
struct SharedMerkleVectorTests {
    @Test(.enabled(if: SharedData.has("data/merkle"), SharedData.reason("data/merkle")))
    func committedCopyIsIdentical() throws {
        for name in ["rfc6962-vectors.json", "rfc6962-trees.json", "NOTICE.md"] {
            let shared = try Data(contentsOf: SharedData.url("data/merkle").appendingPathComponent(name))
            let committed = try Data(contentsOf: MerkleVectors.root.appendingPathComponent(name))
            #expect(shared == committed, "\(name) differs from the shared copy")
        }
        #expect(MerkleVectors.files(under: "inclusion").count == 98)
    }
}
