import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Storage
import Testing
import Vault

/// A node with two organizations (a hospital and a clinic), the hospital's auditor and the clinic's
/// clinician, and a dozen transactions over several blocks: enough for the explorer to list blocks,
/// redact what an identity may not see, and build proofs of more than one hash.
struct PortalFixture {
    let directory: URL
    let node: LedgerNode
    let hospital = IdentityKeys(seed: Array(repeating: 41, count: 32))
    let clinic = IdentityKeys(seed: Array(repeating: 42, count: 32))
    let auditor = IdentityKeys(seed: Array(repeating: 43, count: 32))
    let clinician = IdentityKeys(seed: Array(repeating: 44, count: 32))
    let nodeKeys = IdentityKeys(seed: Array(repeating: 49, count: 32))
    /// A manufacturer founded at genesis when asked for (the clinician tests prescribe its product).
    let manufacturer = IdentityKeys(seed: Array(repeating: 48, count: 32))
    let access: AccessService
    static let chainId = "portal-test"

    init(withManufacturer: Bool = false) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-portal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        _ = try Genesis.create(in: store, chainId: Self.chainId, founders: [Founder(keys: hospital, label: "General Hospital", type: .hospital),
                                                                            Founder(keys: clinic, label: "Riverside Clinic", type: .clinic)]
                                   + (withManufacturer ? [Founder(keys: manufacturer, label: "Acme Pharma", type: .manufacturer)] : []),
                               ordererKeys: nodeKeys, timeMs: Int64(Date().timeIntervalSince1970 * 1_000) - 60_000)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: .init(blockDelayMs: 2))
        access = AccessService(node: node, vault: InMemoryVaultStore(), custodians: [hospital, clinic],
                               indexKey: BlindIndexKey.derive(from: nodeKeys.agreement))
        // One transaction per block, so the log grows over many blocks.
        var sequence: [IdentityID: UInt64] = [hospital.derivedID: 1, clinic.derivedID: 1]
        func enroll(_ member: IdentityKeys, by organization: IdentityKeys, label: String, roles: [Role]) async throws {
            sequence[organization.derivedID, default: 1] += 1
            let transaction = Transaction.sign(TransactionBody(
                chainId: Self.chainId, sender: organization.derivedID, publicKey: organization.signingPublicKey,
                sequence: sequence[organization.derivedID]!,
                call: MembershipContract.Enroll(label: label, roles: roles, signingKey: member.signingPublicKey, agreementKey: member.agreementPublicKey)),
                with: organization)
            _ = try await node.submitAndWait(transaction, timeoutMs: 60_000)
        }
        try await enroll(auditor, by: hospital, label: "Audrey Auditor", roles: [.auditor])
        try await enroll(clinician, by: clinic, label: "Dr. <Cleo> & Co", roles: [.clinician])
        for index in 0..<8 {
            let staff = IdentityKeys(seed: Array(repeating: UInt8(60 + index), count: 32))
            try await enroll(staff, by: index.isMultiple(of: 2) ? hospital : clinic, label: "staff \(index)", roles: [.nurse])
        }
    }

    /// The server's services at `publicURL` (the portal and `/v1` alike).
    func services(publicURL: String, fhir: FHIRService? = nil) async -> ServerServices {
        ServerServices(node: node, nodeKeys: nodeKeys,
                       tokens: await TokenAuthority(nodeKeys: nodeKeys, chainId: Self.chainId, publicURL: publicURL, usedAssertions: InMemoryUsedAssertions()),
                       fhir: fhir, access: access)
    }

    static func with(withManufacturer: Bool = false, _ body: (PortalFixture) async throws -> Void) async throws {
        let fixture = try await PortalFixture(withManufacturer: withManufacturer)
        do { try await body(fixture) } catch {
            await fixture.node.stop()
            throw error
        }
        await fixture.node.stop()
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    /// A key file as `careledger` writes it: sealed with `passphrase` (at the testing cost), or plain.
    static func keyFile(_ name: String, _ keys: IdentityKeys, passphrase: String?, cost: ScryptCost = .testing) throws -> Data {
        try JSONEncoder().encode(try StoredKey(name: name, keys: keys, passphrase: passphrase, cost: cost))
    }
}

/// A browser-like client over the in-process router: keeps the portal cookie, reads forms.
struct PortalBrowser {
    let client: any TestClientProtocol
    var cookie: String?

    struct Page {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: String

        /// The value of `<input … name="NAME" value="…">` or of `data-NAME="…"`.
        func field(_ name: String) -> String? {
            for pattern in [#"name="\#(name)" value="([^"]*)""#, #"data-\#(name)="([^"]*)""#] {
                if let range = body.range(of: pattern, options: .regularExpression) {
                    let match = String(body[range])
                    return match.split(separator: "\"", omittingEmptySubsequences: false).dropLast().last.map(String.init)
                }
            }
            return nil
        }
    }

    mutating func request(_ method: HTTPRequest.Method, _ uri: String, contentType: String? = nil, body: [UInt8]? = nil,
                          headers extra: HTTPFields = [:]) async throws -> Page {
        var headers = extra
        if let cookie { headers[.cookie] = "careledger_portal=\(cookie)" }
        if let contentType { headers[.contentType] = contentType }
        let page = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) { response in
            Page(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
        for header in page.headers[values: .setCookie] where header.hasPrefix("careledger_portal=") {
            let value = header.dropFirst("careledger_portal=".count).prefix { $0 != ";" }
            cookie = value.isEmpty ? nil : String(value)
        }
        return page
    }

    mutating func get(_ uri: String) async throws -> Page { try await request(.get, uri) }

    mutating func post(_ uri: String, form: [String: String], headers: HTTPFields = [:]) async throws -> Page {
        let text = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return try await request(.post, uri, contentType: "application/x-www-form-urlencoded", body: Array(text.utf8), headers: headers)
    }

    /// Posts the key-file form as a browser does (multipart/form-data).
    mutating func postKeyFile(csrf: String?, file: Data, passphrase: String) async throws -> Page {
        let boundary = "----careledger\(UUID().uuidString.prefix(8))"
        var body = ""
        if let csrf { body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n\(csrf)\r\n" }
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"key\"; filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n"
        body += String(decoding: file, as: UTF8.self) + "\r\n"
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"passphrase\"\r\n\r\n\(passphrase)\r\n--\(boundary)--\r\n"
        return try await request(.post, "/portal/sign-in/key-file", contentType: "multipart/form-data; boundary=\(boundary)", body: Array(body.utf8))
    }

    /// Signs in with an uploaded key file; answers the explorer page.
    mutating func signIn(_ keys: IdentityKeys, name: String = "staff") async throws -> Page {
        let form = try await get("/portal/sign-in")
        let signedIn = try await postKeyFile(csrf: form.field("csrf"), file: try PortalFixture.keyFile(name, keys, passphrase: "pass phrase"),
                                             passphrase: "pass phrase")
        #expect(signedIn.status == .seeOther, "\(signedIn.body.prefix(2_000))")
        return try await get("/portal/explorer")
    }
}

/// A client assertion as the portal's signin.js builds it (EdDSA JWT, `aud` a string, `jti` the challenge).
func browserAssertion(_ keys: IdentityKeys, tokenURL: String, jti: String, expiresIn: Int = 120) -> String {
    func encode(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    let id = keys.derivedID.hex
    let input = encode(["alg": "EdDSA", "typ": "JWT"]) + "." + encode([
        "iss": id, "sub": id, "aud": tokenURL, "exp": Int(Date().timeIntervalSince1970) + expiresIn, "jti": jti,
    ])
    let signature = Data(keys.sign(Array(input.utf8))).base64EncodedString().replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    return input + "." + signature
}
