import Foundation
import Testing

@Suite("Access-anomaly alerts through the command line")
struct AuditCLITests {
    @Test(.timeLimit(.minutes(3)))
    func denialsAreFlaggedForTheOperatorAndTheAuditorNotForAClinician() async throws {
        let cli = try CLIWorkspace("audit")
        defer { cli.remove() }
        try await cli.ok(["init", "--organization", "hospital:hospital", "--organization", "clinic:clinic"])
        for name in ["doc", "chen", "aud", "pat"] { try await cli.ok(["keys", "new", name]) }
        for (org, name, role) in [("hospital", "doc", "clinician"), ("clinic", "chen", "clinician"), ("hospital", "aud", "auditor")] {
            try await cli.ok(["submit", "--as", org, "--contract", "membership", "--method", "enroll", "--args",
                              "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        try await cli.ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])
        let observation = try cli.file("obs.json", #"{"resourceType":"Observation","status":"final"}"#)
        let put = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", observation, "--json"]).utf8))
        let record = try #require((put as? [String: Any])?["record"] as? String)
        for _ in 0..<3 { #expect(try await cli.run(["record", "get", record, "--as", "chen"]).status == 3, "denied without consent") }

        // Default thresholds: three denials are not yet an alert.
        #expect(try await cli.ok(["audit", "anomalies"]).contains("0 alert(s)"))
        func alerts(_ args: [String]) async throws -> [[String: Any]] {
            let text = try await cli.ok(["audit", "anomalies", "--json"] + args)
            return try #require((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["alerts"] as? [[String: Any]], "\(text)")
        }
        for view in [[], ["--as", "aud"]] {
            let flagged = try await alerts(view + ["--set", "denials=3"])
            #expect(flagged.count == 1, "\(view): \(flagged)")
            #expect(flagged.first?["rule"] as? String == "denials" && flagged.first?["count"] as? Int == 3 && flagged.first?["threshold"] as? Int == 3)
            #expect(flagged.first?["roles"] as? [String] == ["clinician"] && flagged.first?["evidence_total"] as? Int == 3)
        }
        let readable = try await cli.ok(["audit", "anomalies", "--set", "denials=3"])
        #expect(readable.contains("denials") && readable.contains("threshold 3") && readable.contains("entries #0 #1 #2"), "\(readable)")

        let refused = try await cli.run(["audit", "anomalies", "--as", "doc"])
        #expect(refused.status != 0 && refused.stderr.contains("auditors"), "\(refused)")
        let bad = try await cli.run(["audit", "anomalies", "--set", "nope=1"])
        #expect(bad.status != 0 && bad.stderr.contains("unrelated-patients"), "\(bad)")
        let help = try await cli.run(["audit", "anomalies", "--help"])
        #expect(help.status == 0 && help.stdout.contains("unrelated-patients") && help.stdout.contains("repeated-break-glass"), "\(help.stdout)")
    }
}
