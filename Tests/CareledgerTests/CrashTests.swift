import Foundation
import LedgerCore
import Node
import Storage
import Testing

@Suite("A SIGKILL during load loses no acknowledged commit and restarts cleanly")
struct CrashTests {
    /// Starts `careledger load`, waits for `acksBeforeKill` acknowledgements, SIGKILLs it, and
    /// returns every acknowledged transaction id.
    static func loadAndKill(data: String, acksBeforeKill: Int) throws -> (acked: [Hash256], killedBySignal: Bool) {
        let process = Process()
        process.executableURL = try CareledgerBinary.url
        process.arguments = ["load", "--data", data, "--transactions", "1000000", "--chunk", "100"]
        process.environment = CareledgerBinary.environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = out.fileHandleForReading
        var buffer = Data()
        var acked: [Hash256] = []
        let deadline = Date().addingTimeInterval(120)
        while acked.count < acksBeforeKill && Date() < deadline {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                let parts = line.split(separator: " ")
                if parts.count == 3, parts[0] == "ack", let id = Hash256(hex: String(parts[1])) { acked.append(id) }
            }
        }
        // Kill mid-write: the child is still submitting and committing.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return (acked, process.terminationReason == .uncaughtSignal)
    }

    @Test(.timeLimit(.minutes(5)))
    func killedDuringLoadLosesNoAcknowledgedCommit() async throws {
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let initialized = try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"])
        #expect(initialized.status == 0, "\(initialized.stderr)")

        var allAcked: [Hash256] = []
        for round in 0..<3 {
            let (acked, killed) = try await blocking { try Self.loadAndKill(data: data, acksBeforeKill: 1_500 + round * 500) }
            #expect(killed, "the child must die by the signal, not finish")
            #expect(acked.count >= 1_500, "round \(round): only \(acked.count) acknowledgements before the deadline")
            allAcked += acked
            // Every acknowledged transaction is in the reopened store, and the store verifies.
            let store = try SQLiteLedgerStore(path: data + "/ledger.sqlite")
            for id in allAcked { #expect(try store.location(of: id) != nil, "acknowledged \(id.hex) was lost") }
            guard case .success = try ChainAudit.run(store: store) else {
                Issue.record("store does not verify after SIGKILL in round \(round)")
                return
            }
        }
        // A clean restart after the crashes: the node opens, commits more, and verify passes.
        let resumed = try await CareledgerBinary.run(["load", "--data", data, "--transactions", "300"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("done 300"))
        let verified = try await CareledgerBinary.run(["verify", "--data", data, "--json"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("\"ok\" : true"))
    }
}
