import Console
import ArgumentParser
import LedgerCore
import Node
import Services
import Storage

/// `careledger proof`: print and check RFC 9162 proofs from the store.
struct ProofCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proof",
        abstract: "Print and check RFC 9162 inclusion and consistency proofs.",
        subcommands: [Inclusion.self, Consistency.self])

    struct Inclusion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prove a transaction is in the log (against the head's tree, or --tree-size).")
        @OptionGroup var options: DataOption
        @Argument(help: "Transaction id (hex).") var transaction: String
        @Option(help: "Tree size to prove against (default: the head's log size).") var treeSize: UInt64?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try options.directory.openStore()
            guard let id = Hash256(hex: transaction) else { throw CLIError("transaction id must be 64 hex characters") }
            guard let location = try store.location(of: id) else { throw CLIError("no committed transaction \(id.hex)") }
            guard let head = try store.head() else { throw CLIError("empty store") }
            let size = treeSize ?? head.logSize
            guard size > location.logIndex, size <= head.logSize else {
                throw CLIError("tree size must be in \(location.logIndex + 1)…\(head.logSize) for this transaction")
            }
            let builder = MerkleProofBuilder(source: store)
            let proof = try builder.inclusionProof(index: location.logIndex, size: size)
            let root = try builder.root(size: size)
            let leaf = MerkleHashing.leafHash(try store.transactionBytes(logIndex: location.logIndex) ?? [])
            let verdict = Result { () throws(MerkleProofError) in
                try MerkleVerifier.verifyInclusion(leafHash: leaf, index: location.logIndex, size: size, proof: proof, root: root)
            }
            if json {
                Terminal.json(["leaf_index": location.logIndex, "tree_size": size, "leaf_hash": leaf.base64,
                               "sha256_root_hash": root.base64, "audit_path": proof.map(\.base64), "height": location.height,
                               "verified": (try? verdict.get()) != nil])
            } else {
                Terminal.line("transaction  \(id.hex) (block \(location.height))")
                Terminal.line("leaf         index \(location.logIndex), hash \(leaf.hex)")
                Terminal.line("tree         size \(size), root \(root.hex)")
                for (index, hash) in proof.enumerated() { Terminal.line("path[\(index)]     \(hash.hex)") }
            }
            switch verdict {
            case .success: if !json { Terminal.line("✓ inclusion proof verified (RFC 9162 §2.1.3.2)") }
            case .failure(let error):
                if !json { Terminal.line("✗ inclusion proof does not verify: \(error)") }
                throw exitRejected
            }
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prove the log of SECOND leaves extends the log of FIRST leaves.")
        @OptionGroup var options: DataOption
        @Argument(help: "First (older) tree size.") var first: UInt64
        @Argument(help: "Second (newer) tree size (default: the head's log size).") var second: UInt64?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try options.directory.openStore()
            guard let head = try store.head() else { throw CLIError("empty store") }
            let second = self.second ?? head.logSize
            guard first >= 1, first <= second, second <= head.logSize else {
                throw CLIError("need 1 ≤ first ≤ second ≤ \(head.logSize)")
            }
            let builder = MerkleProofBuilder(source: store)
            let proof = try builder.consistencyProof(first: first, second: second)
            let firstRoot = try builder.root(size: first)
            let secondRoot = try builder.root(size: second)
            let verdict = Result { () throws(MerkleProofError) in
                try MerkleVerifier.verifyConsistency(first: first, second: second, firstRoot: firstRoot, secondRoot: secondRoot, proof: proof)
            }
            if json {
                Terminal.json(["first": first, "second": second, "first_root": firstRoot.base64, "second_root": secondRoot.base64,
                               "consistency": proof.map(\.base64), "verified": (try? verdict.get()) != nil])
            } else {
                Terminal.line("first   size \(first), root \(firstRoot.hex)")
                Terminal.line("second  size \(second), root \(secondRoot.hex)")
                for (index, hash) in proof.enumerated() { Terminal.line("proof[\(index)] \(hash.hex)") }
            }
            switch verdict {
            case .success: if !json { Terminal.line("✓ consistency proof verified (RFC 9162 §2.1.4.2)") }
            case .failure(let error):
                if !json { Terminal.line("✗ consistency proof does not verify: \(error)") }
                throw exitRejected
            }
        }
    }
}
