import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Server
import Services
import Testing

/// One question asked two ways — through the command line and through the HTTP API — gets one
/// answer: both call the same read models, which judge time by the ledger's head block.
@Suite("The CLI and the HTTP API give the same answers")
struct SameAnswerTests {
    static let gtin = "00312345678906"
    static let dayMs: Int64 = 86_400_000

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
    }

    /// Sorted-key JSON bytes: equal values give equal bytes (NSDictionary's isEqual is unreliable
    /// on Linux for parsed JSON holding nulls and booleans).
    static func canonical(_ value: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
    }

    /// Collects response bodies from the in-process router.
    final class Bodies: @unchecked Sendable {
        var texts: [String] = []
    }

    @Test(.timeLimit(.minutes(4)))
    func claimTraceAfterExpiryAndAccessLog() async throws {
        let cli = try CLIWorkspace("same-answers")
        defer { cli.remove() }
        let json = Self.json

        // A hospital, a payer and a manufacturer; a clinician, a payer agent and a patient.
        try await cli.ok(["init", "--organization", "hospital:hospital", "--organization", "payer:payer", "--organization", "maker:manufacturer"])
        for name in ["doc", "agent", "pat"] { try await cli.ok(["keys", "new", name]) }
        for (org, name, role) in [("hospital", "doc", "clinician"), ("payer", "agent", "payer-agent")] {
            try await cli.ok(["submit", "--as", org, "--contract", "membership", "--method", "enroll", "--args",
                              "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        try await cli.ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])

        // A claim, adjudicated on-chain.
        let plan = try cli.file("plan.json", #"{"plan":"GOLD","currency":"USD","deductible":100.00,"coinsurancePercent":20,"outOfPocketMax":1000.00,"benefits":[{"code":"99213","allowed":150.00}]}"#)
        try await cli.ok(["claims", "plan", "--as", "agent", "--file", plan])
        let member = try #require(try json(try await cli.ok(["claims", "enroll", "--as", "agent", "--plan", "GOLD", "--patient", "pat", "--json",
                          "--from", ClaimsCLITests.date(daysFromNow: -30), "--to", ClaimsCLITests.date(daysFromNow: 300)]))["member"] as? String)
        let encounter = try cli.file("encounter.json", #"{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"}}"#)
        let record = try #require(try json(try await cli.ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", encounter, "--json"]))["record"] as? String)
        let today = ClaimsCLITests.date(daysFromNow: 0)
        let claimFile = try cli.file("claim.json", """
            {"resourceType":"Claim","status":"active","use":"claim","created":"\(today)","identifier":[{"system":"urn:test","value":"C-1"}],
             "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
             "patient":{"reference":"Patient/p1"},"provider":{"reference":"Organization/h"},"priority":{"coding":[{"code":"normal"}]},
             "insurance":[{"sequence":1,"focal":true,"coverage":{"identifier":{"system":"urn:careledger:plan","value":"GOLD"}}}],
             "diagnosis":[{"sequence":1,"diagnosisCodeableConcept":{"coding":[{"code":"E11.9"}]}}],
             "item":[{"sequence":1,"productOrService":{"coding":[{"code":"99213"}]},"servicedDate":"\(today)","quantity":{"value":1},
                      "unitPrice":{"value":200.00,"currency":"USD"},"encounter":[{"identifier":{"system":"urn:careledger:record","value":"\(record)"}}]}]}
            """)
        // A Claim naming only the plan is refused; the member id on the command line completes it.
        let incomplete = try await cli.run(["claims", "submit", claimFile, "--as", "hospital", "--patient", "pat"])
        #expect(incomplete.status != 0 && incomplete.stderr.contains("member id"), "\(incomplete.stderr)")
        let response = try json(try await cli.ok(["claims", "submit", claimFile, "--as", "hospital", "--patient", "pat", "--member", member, "--json"]))
        let claim = try #require(((response["identifier"] as? [[String: Any]])?.first)?["value"] as? String)

        // A pack usable through tomorrow.
        try await cli.ok(["supply", "product", "--as", "maker", "--gtin", Self.gtin, "--label", "Amoxicillin 500 mg caps 30"])
        try await cli.ok(["supply", "commission", "--as", "maker", "--gtin", Self.gtin, "--lot", "L1",
                          "--expiry", ClaimsCLITests.date(daysFromNow: 1), "--serials", "S1"])

        // Access-log entries: the clinician reads the record (care team: permit), the payer agent is denied.
        try await cli.ok(["record", "get", record, "--as", "doc"])
        #expect(try await cli.run(["record", "get", record, "--as", "agent"]).status == 3)

        // Three days later on the ledger's clock (a block proves the time), the HTTP API answers.
        let directory = DataDirectory(url: URL(fileURLWithPath: cli.data), passphrase: CareledgerBinary.passphrase)
        let later = LaterClock(offsetMs: 3 * Self.dayMs)
        let patient = try directory.loadKey("pat").derivedID
        let agent = try directory.loadKey("agent").derivedID
        let (httpClaim, httpTrace, httpLog) = try await {
            let ledger = try await LocalLedger.open(directory, clock: later)
            do {
                let admin = try directory.loadKey(ledger.settings.administrator)
                try await ledger.commit(ledger.sign(admin, AnchorContract.Put(digest: Hash256.sha256(Array("later".utf8)), kind: "doc")))
                let services = ServerServices(node: ledger.node, nodeKeys: try directory.loadKey(ledger.settings.nodeKey),
                                              tokens: await TokenAuthority(mintingFor: try directory.loadKey(ledger.settings.nodeKey),
                                                                           chainId: ledger.settings.chainId),
                                              fhir: ledger.fhir)
                let app = Application(router: LedgerServer.router(services))
                let bodies = Bodies()
                try await app.test(.router) { client in
                    for (path, identity) in [("/v1/claims/\(claim)", agent), ("/v1/supply/serials/\(Self.gtin)/S1", agent),
                                             ("/v1/patients/\(patient.hex)/access-log", patient)] {
                        let token = try await services.tokens.mint(for: identity).token
                        try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                            #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                            bodies.texts.append(String(buffer: response.body))
                        }
                    }
                }
                await ledger.close()
                let answers = try bodies.texts.map(Self.json)
                try #require(answers.count == 3)
                return (answers[0], answers[1], answers[2])
            } catch {
                await ledger.close()
                throw error
            }
        }()

        // The command line, asked the same questions over the same data directory.
        let cliClaim = try json(try await cli.ok(["claims", "show", claim, "--json"]))
        let traced = try await cli.run(["supply", "trace", "\(Self.gtin):S1", "--json"])
        #expect(traced.status == 3, "an expired pack is not in good standing")
        let cliTrace = try json(traced.stdout)
        let cliLog = try json(try await cli.ok(["access-log", "--patient", patient.hex, "--json"]))

        #expect(try Self.canonical(cliClaim) == Self.canonical(httpClaim), "claim: CLI \(cliClaim) vs HTTP \(httpClaim)")
        #expect(httpTrace["status"] as? String == "expired", "judged by the ledger's time, three days on: \(httpTrace)")
        #expect(try Self.canonical(cliTrace) == Self.canonical(httpTrace), "trace: CLI \(cliTrace) vs HTTP \(httpTrace)")
        let cliEntries = try #require(cliLog["entries"] as? [[String: Any]])
        let httpEntries = try #require(httpLog["entries"] as? [[String: Any]])
        // The record read, the refused one, and the payer agent's look at the claim over HTTP (a party to it).
        #expect(httpEntries.map { $0["outcome"] as? String } == ["permit", "deny", "permit"], "\(httpEntries)")
        #expect(httpEntries.last?["reason"] as? String == "party" && httpEntries.last?["record"] as? String == claim, "\(httpEntries)")
        #expect(try Self.canonical(cliEntries) == Self.canonical(httpEntries), "access log: CLI \(cliEntries) vs HTTP \(httpEntries)")
    }
}

/// The system clock, `offsetMs` ahead on the wall: blocks get later times while deadlines and
/// timeouts run in real time (a `ManualClock` would also stop the orderer's batch timer).
struct LaterClock: LedgerClock {
    let offsetMs: Int64
    let system = SystemClock()
    func nowMs() -> Int64 { system.nowMs() + offsetMs }
    func monotonicMs() -> Int64 { system.monotonicMs() }
    func sleep(untilMonotonicMs deadlineMs: Int64) async throws { try await system.sleep(untilMonotonicMs: deadlineMs) }
}
