import Console
import Contracts
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import LedgerCore
import Logging
import Node
import Server
import Services
import Storage

/// The demo's HTTP chapter: the node's FHIR server, SMART backend tokens, consent over FHIR, and
/// an inclusion proof fetched and checked over HTTP.
extension DemoScript {
    /// A small Synthea-style patient bundle (transaction, urn:uuid references), used when
    /// ../shared/data/synthea is not next to the working directory.
    static let syntheaStyleBundle = """
    {"resourceType":"Bundle","type":"transaction","entry":[
     {"fullUrl":"urn:uuid:6a1d3e9c-0f5b-4c3e-9d2a-7b8e1f4a5c60","resource":{"resourceType":"Patient","name":[{"family":"Ellsworth","given":["Marta"]}],
      "gender":"female","birthDate":"1948-09-30","identifier":[{"system":"https://github.com/synthetichealth/synthea","value":"6a1d3e9c"}]},
      "request":{"method":"POST","url":"Patient"}},
     {"fullUrl":"urn:uuid:0c4f2b7e-5d1a-4e8f-b3c6-9a2d7e1f0b84","resource":{"resourceType":"Encounter","status":"finished",
      "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"urn:uuid:6a1d3e9c-0f5b-4c3e-9d2a-7b8e1f4a5c60"},
      "period":{"start":"2025-10-02T09:00:00Z","end":"2025-10-02T09:30:00Z"}},"request":{"method":"POST","url":"Encounter"}},
     {"fullUrl":"urn:uuid:3e8b1c5d-7a2f-4d9e-8c1b-5f3a9e7d2c16","resource":{"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}]},
      "subject":{"reference":"urn:uuid:6a1d3e9c-0f5b-4c3e-9d2a-7b8e1f4a5c60"},"encounter":{"reference":"urn:uuid:0c4f2b7e-5d1a-4e8f-b3c6-9a2d7e1f0b84"},
      "effectiveDateTime":"2025-10-02T09:10:00Z","valueQuantity":{"value":138,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
      "request":{"method":"POST","url":"Observation"}}]}
    """

    mutating func tellServer(_ ledger: LocalLedger, rivera: IdentityKeys) async throws {
        story.chapter("FHIR R4 over HTTP, with consent, audit and proofs")
        let chen = try directory.loadKey("dr-chen")
        let nodeKeys = try directory.loadKey(ledger.settings.nodeKey)
        let fhir = ledger.fhir
        try await LedgerServer.withServerInProcess(services: { url in
            ServerServices(node: ledger.node, nodeKeys: nodeKeys,
                           tokens: await TokenAuthority(nodeKeys: nodeKeys, chainId: ledger.settings.chainId, publicURL: url,
                                                        usedAssertions: InMemoryUsedAssertions()), fhir: fhir)
        }) { port in
            try await tellServer(base: "http://127.0.0.1:\(port)", rivera: rivera, chen: chen)
        }
    }

    /// The HTTP chapter against the node serving on `base`.
    mutating func tellServer(base: String, rivera: IdentityKeys, chen: IdentityKeys) async throws {
        story.ok("the node serves /fhir, /v1 and the proof API on \(base) (port picked by the OS)")

        let riveraToken = try await Self.token(base: base, keys: rivera)
        let chenToken = try await Self.token(base: base, keys: chen)
        story.ok("dr-rivera and dr-chen got bearer tokens from POST /auth/token with client assertions signed by their registered keys")

        let shared = URL(fileURLWithPath: "../shared/data/synthea/patient-01.json")
        let bundleData: Data
        if let data = try? Data(contentsOf: shared) {
            bundleData = data
            story.note("importing ../shared/data/synthea/patient-01.json (a Synthea patient)")
        } else {
            bundleData = Data(Self.syntheaStyleBundle.utf8)
            story.note("importing a built-in Synthea-style patient bundle (../shared/data is not here)")
        }
        let imported = try await Self.http("\(base)/fhir", method: "POST", token: riveraToken, body: bundleData)
        try expect(imported.status == 200, "transaction bundle: \(imported.status) \(String(decoding: imported.body.prefix(300), as: UTF8.self))")
        let response = try JSONSerialization.jsonObject(with: imported.body) as? [String: Any] ?? [:]
        let entries = response["entry"] as? [[String: Any]] ?? []
        let patientID = entries.compactMap { $0["resource"] as? [String: Any] }.first { $0["resourceType"] as? String == "Patient" }?["id"] as? String
        guard let patientID else { throw CLIError("demo check failed: the bundle created no Patient") }
        handoverPatient = patientID
        story.ok("dr-rivera POSTed the transaction: \(entries.count) resources encrypted into general-hospital's vault and registered on-chain, urn:uuid references resolved")

        let read = try await Self.http("\(base)/fhir/Patient/\(patientID)", token: riveraToken)
        try expect(read.status == 200, "authorized read")
        let patient = try JSONSerialization.jsonObject(with: read.body) as? [String: Any] ?? [:]
        let name = ((patient["name"] as? [[String: Any]])?.first).map { "\(($0["given"] as? [String])?.first ?? "") \($0["family"] as? String ?? "")" } ?? "?"
        story.ok("GET /fhir/Patient/\(patientID.prefix(8))… as dr-rivera (custodian's clinician): 200, \(name), born \(patient["birthDate"] as? String ?? "?")")
        let denied = try await Self.http("\(base)/fhir/Patient/\(patientID)", token: chenToken)
        try expect(denied.status == 404, "a read without consent must answer as for a missing record (404), got \(denied.status)")
        let outcome = try JSONSerialization.jsonObject(with: denied.body) as? [String: Any] ?? [:]
        let diagnostics = ((outcome["issue"] as? [[String: Any]])?.first?["diagnostics"] as? String) ?? ""
        story.refused("the same read as dr-chen (city-clinic, no consent): 404 OperationOutcome “\(diagnostics)” — to him the record might not exist; the refusal is in the patient's access log")

        // SMART scopes narrow a token: one asked for with a read scope cannot write.
        let readOnly = try await Self.token(base: base, keys: rivera, scope: "system/Patient.read")
        let observation = #"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/\#(patientID)"}}"#
        let narrowWrite = try await Self.http("\(base)/fhir/Observation", method: "POST", token: readOnly, body: Data(observation.utf8))
        try expect(narrowWrite.status == 403, "a write with a read-only scope must be 403, got \(narrowWrite.status)")
        let narrowRead = try await Self.http("\(base)/fhir/Patient/\(patientID)", token: readOnly)
        try expect(narrowRead.status == 200, "a read within the scope: \(narrowRead.status)")
        story.refused("dr-rivera's token with scope system/Patient.read reads the Patient (200) but cannot create an Observation: 403 insufficient_scope")

        // Anyone with the endpoints and RFC 9162 can check a transaction is in the log — but only
        // its parties (and their organizations' auditors) see what it says.
        let listed = try await Self.json("\(base)/v1/txs?limit=1", token: chenToken)
        guard let newest = (listed["transactions"] as? [[String: Any]])?.first, let id = newest["id"] as? String,
              let leafText = newest["leaf_hash"] as? String, let leaf = Data(base64Encoded: leafText).flatMap({ Hash256(bytes: Array($0)) }) else {
            throw CLIError("demo check failed: no transactions listed")
        }
        let hidden = try await Self.http("\(base)/v1/txs/\(id)/raw", token: chenToken)
        try expect(newest["redacted"] as? Bool == true && newest["args"] == nil && hidden.status == 403,
                   "a transaction dr-chen is no party to must be redacted for him (its raw bytes 403), got \(hidden.status)")
        story.refused("dr-chen lists the newest transaction: he is no party to it, so he sees its id, height and leaf hash only; its bytes are 403")
        let riveraView = try await Self.json("\(base)/v1/txs/\(id)", token: riveraToken)
        let raw = try await Self.http("\(base)/v1/txs/\(id)/raw", token: riveraToken)
        try expect(raw.status == 200 && MerkleHashing.leafHash(Array(raw.body)) == leaf, "dr-rivera's own write must be readable by her")
        story.ok("dr-rivera, on whose behalf the hospital signed it, reads it: \(riveraView["contract"] as? String ?? "?").\(riveraView["method"] as? String ?? "?")")
        let sth = try await Self.json("\(base)/v1/log/sth", token: chenToken)
        let size = UInt64(sth["tree_size"] as? Int ?? 0)
        let hashParameter = leaf.base64.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let proof = try await Self.json("\(base)/v1/log/proof-by-hash?hash=\(hashParameter)&tree_size=\(size)", token: chenToken)
        let path = (proof["audit_path"] as? [String] ?? []).compactMap { Data(base64Encoded: $0).flatMap { Hash256(bytes: Array($0)) } }
        guard let index = proof["leaf_index"] as? Int, let root = (sth["sha256_root_hash"] as? String).flatMap({ Data(base64Encoded: $0) })
            .flatMap({ Hash256(bytes: Array($0)) }) else { throw CLIError("demo check failed: malformed proof") }
        try MerkleVerifier.verifyInclusion(leafHash: leaf, index: UInt64(index), size: size, proof: path, root: root)
        story.ok("fetched /v1/log/sth, /v1/txs/\(id.prefix(12))…/raw and /v1/log/proof-by-hash: leaf \(index) of \(size) verifies against the signed root (\(path.count) hashes)")
    }

    static func token(base: String, keys: IdentityKeys, scope: String? = nil) async throws -> String {
        let assertion = try await TokenAuthority.makeAssertion(for: keys, tokenURL: "\(base)/auth/token")
        let form = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=\(assertion)"
            + (scope.map { "&scope=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" } ?? "")
        let answer = try await http("\(base)/auth/token", method: "POST", body: Data(form.utf8), contentType: "application/x-www-form-urlencoded")
        guard answer.status == 200, let object = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
              let token = object["access_token"] as? String else {
            throw CLIError("demo check failed: token endpoint answered \(answer.status)")
        }
        return token
    }

    static func json(_ url: String, token: String) async throws -> [String: Any] {
        let answer = try await http(url, token: token)
        guard answer.status == 200 else { throw CLIError("demo check failed: GET \(url) answered \(answer.status)") }
        return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:]
    }

    static func http(_ url: String, method: String = "GET", token: String? = nil, body: Data? = nil,
                     contentType: String = "application/fhir+json") async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: 60)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error { continuation.resume(throwing: error); return }
                continuation.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }.resume()
        }
    }
}
