import Foundation
import LedgerCore
import Storage
import Testing

/// The command-line half of the bad-input table (docs/security.md, "Bad-input table"): each row runs
/// the built `careledger` binary against one shared data directory and must exit with its code and
/// say why on standard error, and change nothing on-chain or in the vault (a denied read is logged
/// and its audit entry anchored, by design).
@Suite("Bad-input table on the command line: each refusal is specific and changes nothing", .serialized, CLIBadInputWorld.Scope())
struct BadInputCLITests {
    @Test(.timeLimit(.minutes(5)), arguments: CLIBadInputRow.rows)
    func row(_ row: CLIBadInputRow) async throws {
        let world = try #require(CLIBadInputWorld.current, "the suite's scope builds the data directory")
        let before = try world.snapshot()
        let arguments = try row.arguments(world)
        let result = try await world.workspace.run(arguments)
        #expect(result.status == row.status, "\(row.name): exit \(result.status), stderr \(result.stderr.prefix(400))")
        #expect(result.stderr.contains(row.message), "\(row.name): stderr \(result.stderr.prefix(400))")
        let after = try world.snapshot()
        // A denied read is logged, and the command anchors the new audit head on-chain (one transaction).
        let expected = row.audited
            ? CLISnapshot(logSize: before.logSize + 1, audit: before.audit + 1, pending: before.pending, records: before.records)
            : before
        #expect(after.logSize == expected.logSize && after.audit == expected.audit && after.pending == expected.pending
                && after.records == expected.records, "\(row.name): changed from \(before) to \(after)")
        if !row.audited { #expect(after.stateRoot == before.stateRoot, "\(row.name): state changed") }
    }
}

struct CLIBadInputRow: Sendable, CustomTestStringConvertible {
    let name: String
    let arguments: @Sendable (CLIBadInputWorld) throws -> [String]
    let status: Int32
    /// A piece of what standard error must say.
    let message: String
    /// A denied read: logged (one audit entry) and anchored.
    let audited: Bool

    init(_ name: String, _ status: Int32, _ message: String, audited: Bool = false,
         _ arguments: @escaping @Sendable (CLIBadInputWorld) throws -> [String]) {
        (self.name, self.status, self.message, self.audited, self.arguments) = (name, status, message, audited, arguments)
    }

    var testDescription: String { name }

    static let anchor = ["submit", "--as", "doc", "--contract", "anchor", "--method", "put"]
    static let digest = "{\"digest\":\"0x\(String(repeating: "cd", count: 32))\",\"kind\":\"document\"}"

    static let rows: [CLIBadInputRow] = [
        CLIBadInputRow("submit: --args is not JSON", 1, "--args is not valid JSON") { _ in anchor + ["--args", "{\"digest\":"] },
        CLIBadInputRow("submit: --args with a float", 1, "--args is not valid JSON") { _ in anchor + ["--args", "{\"digest\":1.5}"] },
        CLIBadInputRow("submit: --args with a number past Int64", 1, "--args is not valid JSON") { _ in
            anchor + ["--args", "{\"digest\":99999999999999999999999}"]
        },
        CLIBadInputRow("submit: --args over 16 KiB", 1, "larger than 16384 bytes") { _ in
            anchor + ["--args", "{\"kind\":\"\(String(repeating: "x", count: 17_000))\"}"]
        },
        CLIBadInputRow("submit: --args nested 8,000 deep", 1, "--args is not valid JSON") { _ in
            anchor + ["--args", "{\"x\":" + String(repeating: "[", count: 8_000) + String(repeating: "]", count: 8_000) + "}"]
        },
        CLIBadInputRow("submit: --args nested 40 deep", 3, "badArguments") { _ in
            anchor + ["--args", "{\"digest\":\"0x\(String(repeating: "cd", count: 32))\",\"kind\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"]
        },
        CLIBadInputRow("submit: bad hex", 1, "is not valid hex") { _ in anchor + ["--args", "{\"digest\":\"0xZZ\",\"kind\":\"document\"}"] },
        CLIBadInputRow("submit: an unknown contract", 3, "unknownContract") { _ in
            ["submit", "--as", "doc", "--contract", "evil", "--method", "put", "--args", digest]
        },
        CLIBadInputRow("submit: a 65-byte method name", 3, "unknownMethod") { _ in
            ["submit", "--as", "doc", "--contract", "anchor", "--method", String(repeating: "m", count: 65), "--args", digest]
        },
        CLIBadInputRow("submit: expired at height 0", 3, "expired") { _ in anchor + ["--args", digest, "--expiry-height", "0"] },
        CLIBadInputRow("keys: --as a path", 1, "invalid name") { _ in
            ["submit", "--as", "../../etc/passwd", "--contract", "anchor", "--method", "put", "--args", digest]
        },
        CLIBadInputRow("keys: a new key named ../evil", 1, "invalid name") { _ in ["keys", "new", "../evil"] },
        CLIBadInputRow("record get: id ..", 1, "record id") { _ in ["record", "get", "..", "--as", "doc"] },
        CLIBadInputRow("record get: id %2e%2e%2F", 1, "record id") { _ in ["record", "get", "%2e%2e%2F", "--as", "doc"] },
        CLIBadInputRow("record get: an overlong id", 1, "record id") { _ in ["record", "get", String(repeating: "a", count: 4_096), "--as", "doc"] },
        CLIBadInputRow("record get: purpose BOGUS", 1, "unknown purpose") { world in ["record", "get", world.record, "--as", "doc", "--purpose", "BOGUS"] },
        CLIBadInputRow("record put: invalid UTF-8", 1, "not valid JSON") { world in
            ["record", "put", "--as", "doc", "--patient", "pat", "--file", try world.workspace.file("bad-utf8.json", bytes:
                Array(#"{"resourceType":"Observation","status":""#.utf8) + [0xff, 0xc0, 0xaf] + Array(#""}"#.utf8))]
        },
        CLIBadInputRow("record put: not JSON", 1, "not valid JSON") { world in
            ["record", "put", "--as", "doc", "--patient", "pat", "--file", try world.workspace.file("not.json", "{\"resourceType\":")]
        },
        CLIBadInputRow("record put: nested 100,000 deep", 1, "nested deeper") { world in
            ["record", "put", "--as", "doc", "--patient", "pat", "--file", try world.workspace.file("deep.json",
                "{\"resourceType\":\"Observation\",\"x\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}")]
        },
        CLIBadInputRow("record put: 5 MiB", 1, "the limit is") { world in
            ["record", "put", "--as", "doc", "--patient", "pat", "--file", try world.workspace.file("big.json",
                #"{"resourceType":"Observation","note":[{"text":""# + String(repeating: "x", count: 5 << 20) + #""}]}"#)]
        },
        CLIBadInputRow("role: a patient writes a record", 1, "belongs to no organization") { world in
            ["record", "put", "--as", "pat", "--patient", "pat", "--file", try world.workspace.file("self.json",
                #"{"resourceType":"Observation","status":"final","code":{"text":"self-written"}}"#)]
        },
        CLIBadInputRow("role: a clinician enrolls staff", 3, "unauthorized") { _ in
            ["submit", "--as", "doc", "--contract", "membership", "--method", "enroll", "--args",
             #"{"kind":"member","label":"ghost","roles":["clinician"],"signingKey":"@signing:ghost","agreementKey":"@agreement:ghost"}"#]
        },
        CLIBadInputRow("role: a nurse erases a record", 3, "unauthorized") { world in ["record", "erase", world.record, "--as", "nurse"] },
        CLIBadInputRow("role: an auditor grants consent for the patient", 3, "notPatientOrDelegate") { _ in
            ["consent", "grant", "--as", "aud", "--patient", "pat", "--to", "aud"]
        },
        CLIBadInputRow("role: an auditor reads a record", 3, "no-consent", audited: true) { world in ["record", "get", world.record, "--as", "aud"] },
        CLIBadInputRow("usage: an unknown option", 64, "Unknown option '--frobnicate'") { world in ["record", "get", world.record, "--as", "doc", "--frobnicate"] },
        CLIBadInputRow("usage: a negative expiry height", 64, "--expiry-height") { _ in anchor + ["--args", digest, "--expiry-height", "-1"] },
    ]
}

struct CLISnapshot: Equatable, CustomStringConvertible {
    var logSize: UInt64
    var stateRoot = Hash256.zero
    var audit: UInt64
    var pending: Int
    var records: [Hash256]

    var description: String { "log \(logSize), state \(stateRoot.hex.prefix(12)), audit \(audit), pending \(pending), records \(records.count)" }
}

/// One data directory with a hospital, a clinician, a nurse, an auditor, a patient and one record.
final class CLIBadInputWorld: Sendable {
    let workspace: CLIWorkspace
    let record: String
    let patient: IdentityID

    @TaskLocal static var current: CLIBadInputWorld?

    struct Scope: SuiteTrait, TestScoping {
        func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
            let workspace = try CLIWorkspace("bad-input")
            defer { workspace.remove() }
            let world = try await CLIBadInputWorld(workspace)
            try await CLIBadInputWorld.$current.withValue(world) { try await function() }
        }
    }

    init(_ workspace: CLIWorkspace) async throws {
        self.workspace = workspace
        try await workspace.ok(["init", "--organization", "hospital:hospital"])
        for name in ["doc", "nurse", "aud", "pat", "ghost"] { try await workspace.ok(["keys", "new", name]) }
        for (name, role) in [("doc", "clinician"), ("nurse", "nurse"), ("aud", "auditor")] {
            try await workspace.ok(["submit", "--as", "hospital", "--contract", "membership", "--method", "enroll", "--args",
                                    "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        try await workspace.ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])
        let file = try workspace.file("obs.json", #"{"resourceType":"Observation","status":"final","code":{"text":"glucose"}}"#)
        let put = try await workspace.ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", file, "--json"])
        record = try #require((try JSONSerialization.jsonObject(with: Data(put.utf8)) as? [String: Any])?["record"] as? String)
        let ids = try await workspace.ok(["keys", "list", "--json"])
        patient = try #require((((try JSONSerialization.jsonObject(with: Data(ids.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?
            .first { $0["name"] as? String == "pat" }?["id"] as? String).flatMap(Hash256.init(hex:)), "\(ids)")
    }

    /// The ledger's head and the vault's audit log, pending versions and the patient's records, read from the files.
    func snapshot() throws -> CLISnapshot {
        let ledger = try SQLiteLedgerStore(path: workspace.data + "/ledger.sqlite")
        let head = try #require(try ledger.head())
        let vault = try SQLiteVaultStore(path: workspace.data + "/vault.sqlite")
        return CLISnapshot(logSize: head.logSize, stateRoot: head.stateRoot, audit: try vault.auditHead().size,
                           pending: try vault.pendingVersions(limit: 1_000).count,
                           records: try vault.records(patient: patient, limit: 1_000).sorted { $0.hex < $1.hex })
    }
}

extension CLIWorkspace {
    /// Writes a scratch file of raw bytes; returns its path.
    func file(_ name: String, bytes: [UInt8]) throws -> String {
        let url = files.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}
