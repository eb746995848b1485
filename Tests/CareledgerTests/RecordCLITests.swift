import Foundation
import Testing

@Suite("Records, consent, break-glass and erasure through the command line")
struct RecordCLITests {
    /// Values a test patient's plaintext holds; no file of the data directory may contain them.
    static let secrets = ["Zebulon-Aranguren", "MRN-5518822", "glucose 187 mg/dL"]

    @Test(.timeLimit(.minutes(3)))
    func recordLifecycleAndNoPlaintextAtRest() async throws {
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        func run(_ args: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let result = try await CareledgerBinary.run(args + ["--data", data])
            return (result.status, result.stdout, result.stderr)
        }
        func ok(_ args: [String]) async throws -> String {
            let result = try await run(args)
            #expect(result.status == 0, "\(args): \(result.stderr)")
            return result.stdout
        }
        _ = try await ok(["init", "--organization", "hospital:hospital", "--organization", "clinic:clinic"])
        for name in ["doc", "pat", "chen", "er"] { _ = try await ok(["keys", "new", name]) }
        for (org, name, role) in [("hospital", "doc", "clinician"), ("clinic", "chen", "clinician"), ("clinic", "er", "emergency-clinician")] {
            _ = try await ok(["submit", "--as", org, "--contract", "membership", "--method", "enroll", "--args",
                        "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        _ = try await ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])

        let files = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-fhir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: files) }
        let patientJSON = files.appendingPathComponent("patient.json"), observationJSON = files.appendingPathComponent("obs.json")
        try Data(#"{"resourceType":"Patient","name":[{"family":"\#(Self.secrets[0])","given":["Ida"]}],"identifier":[{"value":"\#(Self.secrets[1])"}]}"#.utf8)
            .write(to: patientJSON)
        try Data(#"{"resourceType":"Observation","status":"final","valueString":"\#(Self.secrets[2])"}"#.utf8).write(to: observationJSON)
        _ = try await ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", patientJSON.path])
        let put = try JSONSerialization.jsonObject(with: Data(try await ok(["record", "put", "--as", "doc", "--patient", "pat", "--file", observationJSON.path, "--json"]).utf8)) as? [String: Any]
        let record = try #require(put?["record"] as? String)

        #expect(try await run(["record", "get", record, "--as", "chen"]).status == 3, "denied without consent")
        let grant = try JSONSerialization.jsonObject(with: Data(try await ok(["consent", "grant", "--as", "pat", "--to", "clinic", "--json"]).utf8)) as? [String: Any]
        let consent = try #require(grant?["consent"] as? String)
        #expect(try await ok(["record", "get", record, "--as", "chen"]).contains(Self.secrets[2]))
        _ = try await ok(["consent", "revoke", consent, "--as", "pat"])
        #expect(try await run(["record", "get", record, "--as", "chen"]).status == 3, "denied after revocation")
        #expect(try await ok(["break-glass", record, "--as", "er", "--reason", "unconscious", "--justification", "unresponsive"]).contains(Self.secrets[2]))
        #expect(try await run(["break-glass", record, "--as", "chen", "--reason", "unconscious", "--justification", "x"]).status != 0,
                "a clinician without the emergency role cannot break the glass")
        #expect(try await ok(["record", "find", "zebul"]).count > 60, "the blind index finds the Patient record by a name prefix")

        let log = try await ok(["access-log", "--patient", "pat", "--prove", "--json"])
        let entries = try #require((try JSONSerialization.jsonObject(with: Data(log.utf8)) as? [String: Any])?["entries"] as? [[String: Any]])
        #expect(entries.map { $0["outcome"] as? String } == ["deny", "permit", "deny", "break-glass"])
        #expect(entries.allSatisfy { $0["proven"] as? Bool == true })
        #expect(entries.last?["justification"] as? String == "unresponsive")

        let erase = try await run(["record", "erase", record, "--as", "chen"])
        #expect(erase.status != 0 && erase.stderr.contains("unauthorized"), "only the patient, a delegate or the custodian erases")
        _ = try await ok(["record", "erase", record, "--as", "pat"])
        let afterErase = try await run(["record", "get", record, "--as", "pat"])
        #expect(afterErase.status == 3 && afterErase.stderr.contains("record-erased"))
        #expect(try await ok(["record", "history", record]).contains("erased at block"))
        #expect(try await run(["verify"]).status == 0, "the chain verifies after all of it")

        // Nothing of the plaintext is anywhere in the data directory: ledger, vault, WAL, keys.
        let enumerator = FileManager.default.enumerator(atPath: data)
        var scanned = 0
        while let path = enumerator?.nextObject() as? String {
            guard let bytes = FileManager.default.contents(atPath: (data as NSString).appendingPathComponent(path)) else { continue }
            scanned += 1
            for secret in Self.secrets { #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) found in \(path)") }
        }
        #expect(scanned >= 4)
    }
}
