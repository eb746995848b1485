import Foundation
import LedgerCore
import Node
import Storage
import Testing

/// One row per stored thing an attacker could change.
struct TamperCase: CustomStringConvertible, Sendable {
    let description: String
    let sql: String
    let reasons: [ChainVerificationError.Reason]
    /// Height the report must name (nil: any).
    let height: UInt64?
}

@Suite("verify reports tampering with any stored block, transaction, index or state row")
struct TamperTests {
    // The fixture chain: genesis (2 tx), then blocks of anchors; log index 5 is in block `targetHeight`.
    static let cases: [TamperCase] = [
        TamperCase(description: "block header byte", sql: "UPDATE block SET header = substr(header, 1, 20) || X'FF' || substr(header, 22) WHERE height = 2",
                   reasons: [.badBlockSignature, .malformedHeader], height: 2),
        TamperCase(description: "block signature", sql: "UPDATE block SET signature = X'00' || substr(signature, 2) WHERE height = 2",
                   reasons: [.badBlockSignature], height: 2),
        TamperCase(description: "deleted block", sql: "DELETE FROM block WHERE height = 2", reasons: [.heightGap], height: 2),
        TamperCase(description: "transaction bytes", sql: "UPDATE tx SET bytes = substr(bytes, 1, 60) || X'00' || substr(bytes, 62) WHERE log_index = 5",
                   reasons: [.badTransactionSignature, .malformedTransaction], height: nil),
        TamperCase(description: "deleted transaction", sql: "DELETE FROM tx WHERE log_index = 5", reasons: [.transactionCountMismatch], height: nil),
        TamperCase(description: "transaction result", sql: "UPDATE tx SET result = X'030205036E6F70' WHERE log_index = 5",
                   reasons: [.resultsRootMismatch], height: nil),
        TamperCase(description: "transaction id column", sql: "UPDATE tx SET id = zeroblob(32) WHERE log_index = 5", reasons: [.storeMismatch], height: nil),
        TamperCase(description: "leaf hash column", sql: "UPDATE tx SET leaf_hash = zeroblob(32) WHERE log_index = 5", reasons: [.storeMismatch], height: nil),
        TamperCase(description: "transaction height column", sql: "UPDATE tx SET height = 0 WHERE log_index = 5", reasons: [.storeMismatch], height: nil),
        TamperCase(description: "log node", sql: "UPDATE log_node SET hash = zeroblob(32) WHERE level = 1 AND idx = 2", reasons: [.storeMismatch], height: nil),
        TamperCase(description: "state value", sql: "UPDATE state SET value = X'00' WHERE key IN (SELECT key FROM state WHERE key LIKE 'anchor/%' LIMIT 1)",
                   reasons: [.storeMismatch], height: nil),
        TamperCase(description: "deleted state row", sql: "DELETE FROM state WHERE key IN (SELECT key FROM state WHERE key LIKE 'system/sequence/%' LIMIT 1)",
                   reasons: [.storeMismatch], height: nil),
        TamperCase(description: "inserted state row", sql: "INSERT INTO state (key, value, height) VALUES ('membership/identity/00', X'00', 1)",
                   reasons: [.storeMismatch], height: 1),
    ]

    @Test(arguments: cases)
    func tamperingIsReported(_ row: TamperCase) async throws {
        let chain = try await TestChain(configuration: .init(blockTransactionsMax: 4, blockDelayMs: 2))
        var ids: [Hash256] = []
        for index in 0..<12 { ids.append(try await chain.node.submit(chain.anchor(chain.hospital, "doc-\(index)"))) }
        for id in ids { _ = try await chain.node.awaitCommit(id, timeoutMs: 60_000) }
        await chain.node.stop()
        guard case .success = try ChainAudit.run(store: chain.store) else {
            Issue.record("fixture chain does not verify")
            return
        }
        let txHeight = try #require(try chain.store.location(of: ids[3])).height
        try chain.store.unsafeExecute(row.sql)
        let outcome = try ChainAudit.run(store: chain.store)
        guard case .failure(let error) = outcome else {
            Issue.record("\(row) was not detected")
            await chain.close()
            return
        }
        #expect(row.reasons.contains(error.reason), "\(row): got \(error)")
        if let height = row.height { #expect(error.height == height, "\(row): got \(error)") }
        if row.description.hasPrefix("transaction") || row.description == "deleted transaction" {
            #expect(error.height == txHeight, "\(row): got \(error)")
        }
        await chain.close()
    }
}
