import Foundation
import Testing

/// The trials workflow through child processes: register, consent, enroll, data, withdrawal, results, recruitment.
@Suite("Clinical trials through the command line")
struct TrialsCLITests {
    @Test(.timeLimit(.minutes(3)))
    func registerEnrollDataWithdrawReportAndMatch() async throws {
        let cli = try CLIWorkspace("trials")
        defer { cli.remove() }
        _ = try await cli.ok(["init", "--organization", "hospital:hospital", "--organization", "sponsor:sponsor"])
        for name in ["doc", "pat", "pat2"] { _ = try await cli.ok(["keys", "new", name]) }
        _ = try await cli.ok(["submit", "--as", "hospital", "--contract", "membership", "--method", "enroll", "--args",
                          #"{"kind":"member","label":"doc","roles":["clinician"],"signingKey":"@signing:doc","agreementKey":"@agreement:doc"}"#])
        for name in ["pat", "pat2"] {
            _ = try await cli.ok(["submit", "--as", name, "--contract", "membership", "--method", "registerPatient", "--args",
                              "{\"agreementKey\":\"@agreement:\(name)\"}"])
        }

        _ = try cli.file("protocol-v1.txt", "Protocol v1: randomized, primary endpoint progression-free survival")
        let trial = try cli.file("trial.json", """
            {"trial":"NCT-T1","protocol":"protocol-v1.txt","consentFormVersion":1,
             "primaryEndpoints":["PFS"],"secondaryEndpoints":["OS","QOL"],"sites":["hospital"]}
            """)
        #expect(try await cli.run(["trials", "register", "--as", "doc", "--file", trial]).status == 3, "a clinician is not a sponsor")
        let registered = try await cli.ok(["trials", "register", "--as", "sponsor", "--file", trial, "--json"])
        #expect(registered.contains("NCT-T1"))
        let missing = try await cli.run(["trials", "register", "--as", "sponsor", "--file", try cli.file("bad.json", #"{"trial":"NCT-T2","protocolHash":"00"}"#)])
        #expect(missing.status == 1, "\(missing.stderr)")

        _ = try await cli.ok(["trials", "consent", "NCT-T1", "--as", "pat", "--recruitment-contact"])
        _ = try await cli.ok(["trials", "consent", "NCT-T1", "--as", "pat2", "--recruitment-contact"])
        #expect(try await cli.ok(["trials", "enroll", "NCT-T1", "--as", "doc", "--patient", "pat"]).contains("enrolled"))
        let crf = try cli.file("crf-1.json", #"{"visit":1,"tumour_mm":31}"#)
        let anchored = try await cli.ok(["trials", "submit-data", "NCT-T1", "--as", "doc", "--participant", "pat", "--endpoint", "PFS",
                                     "--crf", crf, "--json"])
        #expect(anchored.contains("\"batch\" : 1"), "\(anchored)")
        let notRegistered = try await cli.run(["trials", "submit-data", "NCT-T1", "--as", "doc", "--participant", "pat", "--endpoint", "HBA1C",
                                           "--crf-hash", String(repeating: "ab", count: 32)])
        #expect(notRegistered.status == 3 && notRegistered.stderr.contains("endpointNotPreregistered"), "\(notRegistered.stderr)")

        // The patient withdraws: the next data submission for them is refused (exit 3).
        _ = try await cli.ok(["trials", "withdraw", "NCT-T1", "--as", "pat"])
        let afterWithdrawal = try await cli.run(["trials", "submit-data", "NCT-T1", "--as", "doc", "--participant", "pat", "--endpoint", "PFS",
                                             "--crf", try cli.file("crf-2.json", #"{"visit":2,"tumour_mm":29}"#)])
        #expect(afterWithdrawal.status == 3 && afterWithdrawal.stderr.contains("participantWithdrawn"), "\(afterWithdrawal.stderr)")

        // Recruitment: only pat2 (standing consent; pat withdrew, so no contact) yields a token.
        _ = try await cli.ok(["trials", "criteria", "NCT-T1", "--as", "sponsor", "--criterion", "age>=18", "--criterion", "ICD10:C34",
                          "--document", try cli.file("criteria.txt", "eligibility")])
        let match = try await cli.ok(["trials", "match", "NCT-T1", "--as", "doc", "--patient", "pat", "--patient", "pat2", "--json"])
        let matched = try JSONSerialization.jsonObject(with: Data(match.utf8)) as? [String: Any]
        #expect((matched?["announced"] as? [String])?.count == 1 && matched?["skipped"] as? Int == 1, "\(match)")
        let twice = try await cli.run(["trials", "match", "NCT-T1", "--as", "doc", "--patient", "pat2"])
        #expect(twice.status == 3 && twice.stderr.contains("matchTokenAlreadyAnnounced"), "\(twice.stderr)")

        // Results with the primary endpoint swapped for a secondary one: accepted, flagged.
        let honest = try await cli.ok(["trials", "report", "NCT-T1", "--as", "sponsor", "--primary", "PFS", "--results-hash", String(repeating: "01", count: 32)])
        #expect(!honest.contains("FLAGGED"), "\(honest)")
        let switched = try await cli.ok(["trials", "report", "NCT-T1", "--as", "sponsor", "--primary", "OS",
                                     "--results", try cli.file("results.csv", "arm,os_months\nA,14\nB,11\n")])
        #expect(switched.contains("FLAGGED") && switched.contains("added OS") && switched.contains("dropped PFS"), "\(switched)")

        let shown = try await cli.ok(["trials", "show", "NCT-T1", "--participant", "pat"])
        #expect(shown.contains("participants enrolled: 1") && shown.contains("data batches: 1") && shown.contains("withdrawn"), "\(shown)")
        let json = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["trials", "show", "NCT-T1", "--json"]).utf8)) as? [String: Any]
        let results = try #require(json?["results"] as? [[String: Any]])
        #expect(results.count == 2 && results[0]["flagged"] as? Bool == false && results[1]["flagged"] as? Bool == true)
        let flag = try #require(results[1]["flag"] as? [String: Any])
        #expect(flag["added"] as? [String] == ["OS"] && flag["dropped"] as? [String] == ["PFS"])
        #expect(json?["flagged"] as? Bool == true && json?["participantCount"] as? Int == 1)

        // A declared amendment makes the new primary endpoint pre-registered.
        _ = try await cli.ok(["trials", "amend", "NCT-T1", "--as", "sponsor", "--protocol", try cli.file("protocol-v2.txt", "Protocol v2"),
                          "--reason", "DSMB recommendation", "--primary", "OS", "--secondary", "PFS,QOL"])
        #expect(!(try await cli.ok(["trials", "report", "NCT-T1", "--as", "sponsor", "--primary", "OS", "--results-hash",
                                String(repeating: "02", count: 32)])).contains("FLAGGED"))
        #expect(try await cli.run(["verify"]).status == 0)
    }
}
