import Foundation
import LedgerCore
import Storage
import Testing
import Vault

@Suite("The careledger command line")
struct CLITests {
    @Test(.timeLimit(.minutes(3)))
    func demoRunsAndExitsZero() async throws {
        let result = try await CareledgerBinary.run(["demo", "--bulk", "200"], timeoutSeconds: 150)
        #expect(result.status == 0, "\(result.stderr)")
        for chapter in ["Founding a consortium", "FHIR R4 over HTTP", "Verifying the whole chain", "Proving a transaction", "Catching tampering"] {
            #expect(result.stdout.contains(chapter))
        }
        #expect(result.stdout.contains("badTransactionSignature"))
    }

    /// `demo --serve` tells the story, then serves its node: the portal answers, every key file it
    /// names exists, the patient's backup opens with the passphrase it prints, and Ctrl-C (SIGTERM)
    /// stops it cleanly and removes the data.
    @Test(.timeLimit(.minutes(4)))
    func demoServesThePortalUntilStopped() async throws {
        let node = try NodeProcess(command: ["demo", "--bulk", "50", "--serve", "--port", "0"], seconds: 180)
        defer { node.stop() }
        let banner = node.banner
        #expect(banner.contains("Catching tampering") && banner.contains("portal  http://127.0.0.1:\(node.port)/portal"), "\(banner)")
        let signIn = try await http("http://127.0.0.1:\(node.port)/portal/sign-in")
        #expect(signIn.status == 200 && String(decoding: signIn.body, as: UTF8.self).contains("With your key file"))
        let keyFiles = banner.split(separator: "\n").compactMap { line -> String? in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("/") && text.contains(".json") ? String(text.prefix { $0 != " " }) : nil
        }
        #expect(keyFiles.count == 6, "five staff key files and the patient's backup: \(keyFiles)")
        #expect(keyFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "\(keyFiles)")
        let backupPath = try #require(keyFiles.first { $0.hasSuffix("patient-backup.json") })
        let passphrase = try #require(banner.range(of: #"passphrase demo-[0-9a-f]{16}"#, options: .regularExpression).map { String(banner[$0].dropFirst("passphrase ".count)) })
        let backup = try JSONDecoder().decode(PatientKeyFile.self, from: Data(contentsOf: URL(fileURLWithPath: backupPath)))
        let opened = try backup.open(passphrase: passphrase)
        #expect(opened.kind == .backup && opened.keys.derivedID.hex == backup.id)
        node.stop()
        #expect(node.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: backupPath), "the demo's temporary data is removed when it stops")
    }

    /// The portal benchmark signs in as staff and as the patient over the demo's data and times every page.
    @Test(.timeLimit(.minutes(3)))
    func portalBenchSmoke() async throws {
        let result = try await CareledgerBinary.run(["bench", "portal", "--requests", "10", "--bulk", "20", "--json"], timeoutSeconds: 170)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let pages = try #require(report["pages"] as? [[String: Any]])
        #expect(Set(pages.compactMap { $0["path"] as? String }).isSuperset(of: ["/portal/explorer", "/portal/patient/access-log", "/portal/anomalies"]))
        #expect(pages.allSatisfy { ($0["p99Ms"] as? Double ?? 0) > 0 })
        #expect(report["targetMs"] as? Double == 200)
    }

    /// The consent benchmark runs end to end at a small size and reports decisions it really made.
    @Test(.timeLimit(.minutes(3)))
    func consentBenchSmoke() async throws {
        let result = try await CareledgerBinary.run(["bench", "consent", "--counts", "100,300", "--decisions", "1000", "--patients", "100", "--worst-decisions", "200", "--json"],
                                              timeoutSeconds: 170)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let levels = try #require(report["levels"] as? [[String: Any]])
        #expect(levels.compactMap { $0["consents"] as? Int } == [228, 428])
        for level in levels {
            let outcomes = try #require(level["outcomes"] as? [String: Int])
            #expect(outcomes.values.reduce(0, +) == 1000)
            #expect(outcomes["permit/consent", default: 0] > 0, "some requests are covered by a consent: \(outcomes)")
            #expect(outcomes["deny/no-consent", default: 0] > 0, "\(outcomes)")
            let worst = try #require(level["worstCase"] as? [String: Any])
            #expect(worst["reason"] as? String == "sensitive-category-not-named")
            #expect((worst["stateReads"] as? Int ?? 0) > 128, "the worst case reads every one of its 128 consents")
        }
        #expect(result.stderr.isEmpty || !result.stderr.contains("refused"))
    }

    /// The contracts benchmark adjudicates real claims and moves real units at a small size.
    @Test(.timeLimit(.minutes(3)))
    func contractsBenchSmoke() async throws {
        let result = try await CareledgerBinary.run(["bench", "contracts", "--claims", "1000", "--patients", "100", "--senders", "20",
                                                     "--units", "400", "--json"], timeoutSeconds: 170)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((report["outcomes"] as? [String: Int]) == ["paid": 1000])
        #expect((report["claimsPerSecond"] as? Double ?? 0) > 0)
        #expect((report["supplyPhases"] as? [[String: Any]])?.compactMap { $0["event"] as? String } == ["ship", "receive", "verify"])
    }

    @Test(.timeLimit(.minutes(5)))
    func submitVerifyProofAndTamper() async throws {
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"]).status == 0)
        #expect(try await CareledgerBinary.run(["keys", "new", "dr-a", "--data", data]).status == 0)
        let enroll = try await CareledgerBinary.run(["submit", "--data", data, "--as", "hospital", "--contract", "membership", "--method", "enroll",
                                               "--args", #"{"kind":"member","label":"dr-a","roles":["clinician"],"signingKey":"@signing:dr-a","agreementKey":"@agreement:dr-a"}"#, "--json"])
        #expect(enroll.status == 0, "\(enroll.stdout)\(enroll.stderr)")
        let digest = String(repeating: "ab", count: 32)
        let anchor = try await CareledgerBinary.run(["submit", "--data", data, "--as", "dr-a", "--contract", "anchor", "--method", "put",
                                               "--args", "{\"digest\":\"0x\(digest)\",\"kind\":\"document\"}", "--json"])
        #expect(anchor.status == 0, "\(anchor.stdout)\(anchor.stderr)")
        let receipt = try JSONSerialization.jsonObject(with: Data(anchor.stdout.utf8)) as? [String: Any]
        let id = try #require(receipt?["id"] as? String)

        let duplicate = try await CareledgerBinary.run(["submit", "--data", data, "--as", "dr-a", "--contract", "anchor", "--method", "put",
                                                  "--args", "{\"digest\":\"0x\(digest)\",\"kind\":\"document\"}"])
        #expect(duplicate.status == 3)
        #expect(duplicate.stderr.contains("alreadyAnchored"))
        let float = try await CareledgerBinary.run(["submit", "--data", data, "--contract", "anchor", "--method", "put", "--args", #"{"x":1.5}"#])
        #expect(float.status == 1)

        let proof = try await CareledgerBinary.run(["proof", "inclusion", id, "--data", data])
        #expect(proof.status == 0)
        #expect(proof.stdout.contains("✓ inclusion proof verified"))
        let consistency = try await CareledgerBinary.run(["proof", "consistency", "1", "--data", data])
        #expect(consistency.status == 0, "\(consistency.stdout)\(consistency.stderr)")
        #expect(try await CareledgerBinary.run(["verify", "--data", data]).status == 0)
        let keys = try await CareledgerBinary.run(["keys", "list", "--data", data])
        #expect(keys.stdout.contains("dr-a") && keys.stdout.contains("member"))

        // Flip one bit of a stored transaction: verify exits 3 and names the block and transaction.
        let store = try SQLiteLedgerStore(path: data + "/ledger.sqlite")
        let head = try #require(try store.head())
        var bytes = try #require(try store.transactionBytes(logIndex: head.logSize - 1))
        bytes[bytes.count - 90] ^= 1
        try store.unsafeExecute("UPDATE tx SET bytes = ? WHERE log_index = \(head.logSize - 1)", arguments: [Data(bytes)])
        let failed = try await CareledgerBinary.run(["verify", "--data", data, "--json"])
        #expect(failed.status == 3)
        #expect(failed.stdout.contains("\"height\" : 2"), "\(failed.stdout)")
        #expect(failed.stdout.contains("transactionIndex"))
    }

    @Test func badInputGetsClearErrors() async throws {
        let missing = try await CareledgerBinary.run(["verify", "--data", temporaryDataPath()])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("careledger init"))
        let badOrg = try await CareledgerBinary.run(["init", "--data", temporaryDataPath(), "--organization", "x:spaceship"])
        #expect(badOrg.status == 1)
        #expect(badOrg.stderr.contains("unknown organization type"))
    }
}
