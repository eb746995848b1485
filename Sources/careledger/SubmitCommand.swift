import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Node
import Services

/// `careledger submit`: sign a transaction with a local key, commit it, print the receipt.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Sign a transaction as a local identity, commit it on the embedded node and print its receipt.",
        discussion: """
            --args is a JSON object. Integers, strings, booleans, null, arrays and objects map to the canonical
            encoding (floats are refused). Strings are rewritten when they start with:
              0x…            bytes, from hex
              @id:NAME       the identity id of local key NAME (32 bytes)
              @signing:NAME  the Ed25519 public key of local key NAME
              @agreement:NAME the X25519 public key of local key NAME
            Example: careledger submit --as operator --contract anchor --method put \\
                       --args '{"digest":"0x<64 hex>","kind":"document"}'
            The node runs inside this command; stop a running `careledger node` on the same data first.
            """)

    @OptionGroup var options: DataOption
    @Option(name: .customLong("as"), help: "Local key to sign with (default: the administrator).") var signer: String?
    @Option(help: "Contract name.") var contract: String
    @Option(help: "Method name.") var method: String
    @Option(help: "Arguments as a JSON object.") var args = "{}"
    @Option(help: "Last block height at which the transaction may be included.") var expiryHeight: UInt64?
    @Option(help: "Answer once the transaction is committed, or once its block is final (attested by a quorum of organizations).")
    var wait: Wait = .committed
    @Flag(help: "Print JSON.") var json = false

    enum Wait: String, ExpressibleByArgument, CaseIterable { case committed, final }

    func run() async throws {
        let directory = options.directory
        let settings = try directory.settings()
        let name = signer ?? settings.administrator
        let keys = try directory.loadKey(name)
        let value = try ArgumentsJSON.parse(args, directory: directory)
        let ledger = try await LocalLedger.open(directory)
        let tx = ledger.sign(keys, contract: contract, method: method, args: value, expiryHeight: expiryHeight)
        let receipt: CommitReceipt
        do {
            receipt = try await ledger.node.submitAndWait(tx)
            if wait == .final { _ = try await ledger.node.awaitFinal(tx.id) }
        } catch let error as AdmissionError {
            await ledger.close()
            if json { Terminal.json(["accepted": false, "stage": "admission", "code": error.code, "message": error.description]) }
            else { Terminal.error("refused before ordering: \(error)") }
            throw exitRejected
        }
        await ledger.close()
        let accepted = receipt.status.result.isAccepted
        if json {
            Terminal.json(receiptJSON(receipt) as [String: Any])
        } else {
            Terminal.line("transaction  \(receipt.status.transactionID.hex)")
            Terminal.line("block        \(receipt.status.height)   log index \(receipt.status.logIndex)")
            Terminal.line("result       \(accepted ? "accepted" : "rejected — \(ResultCode(rawValue: receipt.status.result.code)?.name ?? "\(receipt.status.result.code)"): \(receipt.status.result.message)")")
            Terminal.line("proof        \(receipt.inclusionProof.count) hashes to root \(receipt.rootHash.hex) (tree size \(receipt.treeSize)) ✓ verified")
        }
        if !accepted { throw exitRejected }
    }
}

/// JSON of a receipt, in Certificate Transparency style names where they exist.
func receiptJSON(_ receipt: CommitReceipt) -> [String: Any] {
    [
        "id": receipt.status.transactionID.hex, "height": receipt.status.height, "leaf_index": receipt.status.logIndex,
        "accepted": receipt.status.result.isAccepted, "code": Int(receipt.status.result.code),
        "message": receipt.status.result.message, "tree_size": receipt.treeSize,
        "sha256_root_hash": receipt.rootHash.base64, "leaf_hash": receipt.leafHash.base64,
        "audit_path": receipt.inclusionProof.map(\.base64),
    ]
}
