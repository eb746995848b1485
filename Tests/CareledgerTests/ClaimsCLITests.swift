import Foundation
import Testing

@Suite("Insurance claims through the command line")
struct ClaimsCLITests {
    static func date(daysFromNow days: Int) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date().addingTimeInterval(Double(days) * 86_400))
    }

    @Test(.timeLimit(.minutes(3)))
    func planCoverageClaimPaymentAndRefusals() async throws {
        let cli = try CLIWorkspace("claims")
        defer { cli.remove() }
        _ = try await cli.ok(["init", "--organization", "hospital:hospital", "--organization", "payer:payer"])
        for name in ["doc", "agent", "pat"] { _ = try await cli.ok(["keys", "new", name]) }
        for (org, name, role) in [("hospital", "doc", "clinician"), ("payer", "agent", "payer-agent")] {
            _ = try await cli.ok(["submit", "--as", org, "--contract", "membership", "--method", "enroll", "--args",
                              "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        _ = try await cli.ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])

        let badPlan = try cli.file("bad-plan.json", #"{"plan":"GOLD","currency":"USD","deductible":100.001,"outOfPocketMax":1000,"benefits":[{"code":"99213","allowed":150}]}"#)
        let refusedPlan = try await cli.run(["claims", "plan", "--as", "agent", "--file", badPlan])
        #expect(refusedPlan.status == 1 && refusedPlan.stderr.contains("deductible"), "\(refusedPlan.stderr)")
        let plan = try cli.file("plan.json", """
            {"plan":"GOLD","currency":"USD","deductible":100.00,"coinsurancePercent":20,"outOfPocketMax":1000.00,
             "benefits":[{"code":"99213","allowed":150.00},{"code":"70553","allowed":1200.00,"priorAuth":true}]}
            """)
        #expect(try await cli.run(["claims", "plan", "--as", "doc", "--file", plan]).status == 3, "a clinician is not a payer")
        _ = try await cli.ok(["claims", "plan", "--as", "agent", "--file", plan])
        let enrolled = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["claims", "enroll", "--as", "agent", "--plan", "GOLD", "--patient", "pat",
                          "--from", Self.date(daysFromNow: -30), "--to", Self.date(daysFromNow: 300), "--json"]).utf8)) as? [String: Any]
        let member = try #require(enrolled?["member"] as? String)

        let encounter = try cli.file("encounter.json", #"{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"}}"#)
        let put = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", encounter, "--json"]).utf8)) as? [String: Any]
        let record = try #require(put?["record"] as? String)
        let today = Self.date(daysFromNow: 0)
        let claim = try cli.file("claim.json", """
            {"resourceType":"Claim","status":"active","use":"claim","created":"\(today)","identifier":[{"system":"urn:test","value":"C-1"}],
             "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
             "patient":{"reference":"Patient/p1"},"provider":{"reference":"Organization/h"},"priority":{"coding":[{"code":"normal"}]},
             "insurance":[{"sequence":1,"focal":true,"coverage":{"identifier":{"system":"urn:careledger:member:GOLD","value":"\(member)"}}}],
             "diagnosis":[{"sequence":1,"diagnosisCodeableConcept":{"coding":[{"code":"E11.9"}]}}],
             "item":[{"sequence":1,"productOrService":{"coding":[{"code":"99213"}]},"servicedDate":"\(today)","quantity":{"value":1},
                      "unitPrice":{"value":200.00,"currency":"USD"},"encounter":[{"identifier":{"system":"urn:careledger:record","value":"\(record)"}}]}]}
            """)
        let response = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["claims", "submit", claim, "--as", "hospital", "--patient", "pat", "--json"]).utf8)) as? [String: Any]
        #expect(response?["resourceType"] as? String == "ClaimResponse")
        let claimID = try #require(((response?["identifier"] as? [[String: Any]])?.first)?["value"] as? String)
        let shown = try await cli.ok(["claims", "show", claimID])
        #expect(shown.contains("paid") && shown.contains("patient owes 110.00, payer owes 40.00"), "\(shown)")
        let again = try await cli.run(["claims", "submit", claim, "--as", "hospital", "--patient", "pat"])
        #expect(again.status == 3 && again.stderr.contains("claimExists"), "\(again.stderr)")

        #expect(try await cli.ok(["claims", "pay", claimID, "--as", "agent", "--reference", "EFT-1"]).contains("paid 40.00 of 40.00"))
        let overpay = try await cli.run(["claims", "pay", claimID, "--as", "agent", "--amount", "0.01", "--reference", "EFT-2"])
        #expect(overpay.status == 3 && overpay.stderr.contains("overpayment"), "\(overpay.stderr)")

        let auth = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["claims", "authorize", "--as", "doc", "--plan", "GOLD", "--patient", "pat",
                                                                             "--code", "70553", "--json"]).utf8)) as? [String: Any]
        let authID = try #require(auth?["authorization"] as? String)
        #expect(try await cli.run(["claims", "decide", authID, "--as", "doc", "--approve", "--until", Self.date(daysFromNow: 60)]).status == 3)
        #expect(try await cli.ok(["claims", "decide", authID, "--as", "agent", "--approve", "--until", Self.date(daysFromNow: 60)]).contains("approved"))
        #expect(try await cli.run(["verify"]).status == 0)
    }
}
