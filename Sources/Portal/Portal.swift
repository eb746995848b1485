import Contracts
import Foundation
public import Hummingbird
import LedgerCore
import MultipartKit
import Node
import NIOCore
import Services

/// The web portal at `/portal`: server-rendered pages over the same services as `/v1` and the CLI
/// (routes parse → call a service → render), a little JavaScript for what only a browser can do
/// (verify proofs itself, sign with a key it holds), no inline script or style. docs/portal.md.
public enum Portal {
    /// Where the server mounts the portal.
    public static let basePath = "/portal"
    /// The session cookie: HttpOnly, SameSite=Strict, Path=/portal, Secure on https.
    static let cookieName = "careledger_portal"

    /// Adds the portal's routes under `/portal` to `router`.
    public static func add<Context: RequestContext>(to router: Router<Context>, _ backend: PortalBackend) {
        let group = router.group("portal").add(middleware: PortalHeaders<Context>(base: basePath))
        group.get("") { request, _ in
            PortalPages.redirect(home(await signedIn(request, backend)?.identity, backend))
        }
        SignInRoutes.add(to: group, backend)
        ExplorerRoutes.add(to: group, backend)
        AuditRoutes.add(to: group, backend)
        PatientRoutes.add(to: group, backend)
        ClinicianRoutes.add(to: group, backend)
        ClinicianForms.add(to: group, backend)
        PortalEventRoutes.add(to: group, backend)
        PayerRoutes.add(to: group, backend)
        PharmacyRoutes.add(to: group, backend)
        HandoverRoutes.add(to: group, backend)
        group.get("static/:name") { request, context in
            guard let name = context.parameters.get("name"), let asset = PortalPages.assets[name] else {
                throw PortalRefusal(status: 404, message: "no such file")
            }
            var headers: HTTPFields = [.contentType: asset.contentType, .eTag: asset.etag, .cacheControl: "no-cache"]
            if request.headers[.ifNoneMatch] == asset.etag { return Response(status: .notModified, headers: headers) }
            headers[.contentLength] = String(asset.bytes.count)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
        }
    }

    // MARK: sessions

    /// Where an identity starts: a patient on her own page, a clinician (on a node with records) on
    /// the patient search, a payer's staff on the payer page, a pharmacist (or a pharmacy) on the
    /// pharmacy page, other staff on the explorer, no one on sign-in.
    static func home(_ identity: Identity?, _ backend: PortalBackend) -> String {
        guard let identity else { return "\(basePath)/sign-in" }
        if identity.kind == .patient { return "\(basePath)/patient" }
        if isClinician(identity, backend) { return "\(basePath)/clinician" }
        if isPayerStaff(identity, backend.node.state) { return "\(basePath)/payer" }
        if isPharmacist(identity, backend.node.state) { return "\(basePath)/pharmacy" }
        return "\(basePath)/explorer"
    }

    /// Roles whose holders start on the clinician pages (a care team's: `ConsentPolicy.careTeamRoles`).
    /// Which page is home only: what they may see there is decided by the services, record by record.
    static func isClinician(_ identity: Identity, _ backend: PortalBackend) -> Bool {
        backend.fhir != nil && identity.kind == .member
            && !ConsentPolicy.careTeamRoles.isDisjoint(with: Directory.effectiveRoles(of: identity, in: backend.node.state))
    }

    /// A payer organization or one of its members (which page is theirs; the services decide what they see).
    static func isPayerStaff(_ identity: Identity, _ state: any StateReader) -> Bool {
        guard let organization = ReadRules.organization(of: identity) else { return false }
        return (organization == identity.id ? identity : Directory.identity(organization, in: state))?.organizationType == .payer
    }

    /// A pharmacist, or a pharmacy organization itself.
    static func isPharmacist(_ identity: Identity, _ state: any StateReader) -> Bool {
        (identity.kind == .organization && identity.organizationType == .pharmacy)
            || Directory.effectiveRoles(of: identity, in: state).contains(.pharmacist)
    }

    /// The signed-in session the request's cookie names and the identity its token speaks for now,
    /// checked as `/v1` checks a bearer token (expired, revoked: the session ends).
    static func signedIn(_ request: Request, _ backend: PortalBackend) async -> (session: PortalSession, identity: Identity)? {
        guard let session = backend.sessions.session(request.cookies[cookieName]?.value), let token = session.token else { return nil }
        do { return (session, try await backend.tokens.identity(bearer: token)) } catch {
            backend.sessions.end(session.id)
            return nil
        }
    }

    /// The session cookie for `session` (a removal when nil).
    static func cookie(_ session: PortalSession?, _ backend: PortalBackend, nowSeconds: Int64 = Int64(Date().timeIntervalSince1970)) -> Cookie {
        Cookie(name: cookieName, value: session?.id ?? "", maxAge: session.map { max(0, Int($0.expiresAt - nowSeconds)) } ?? 0,
               path: basePath, secure: backend.publicURL.hasPrefix("https:"), httpOnly: true, sameSite: .strict)
    }

    /// The values every page's layout reads: the base path, the chain, and who is signed in.
    static func layout(_ backend: PortalBackend, _ signedIn: (session: PortalSession, identity: Identity)?) -> [String: Any] {
        var values: [String: Any] = ["base": basePath, "chainId": backend.node.chainId]
        if let signedIn {
            let (session, identity) = (signedIn.session, signedIn.identity)
            var facts: [String: Any] = ["label": identity.label.isEmpty ? (identity.kind == .patient ? "patient" : "identity") : identity.label,
                                        "kind": identity.kind.rawValue, "id": identity.id.hex, "idShort": String(identity.id.hex.prefix(12)),
                                        "csrf": session.csrf, "isPatient": identity.kind == .patient,
                                        "isClinician": isClinician(identity, backend),
                                        "isPayer": isPayerStaff(identity, backend.node.state), "isPharmacist": isPharmacist(identity, backend.node.state),
                                        "mayHandOver": HandoverRoutes.mayHandOver(identity, backend)]
            // No roles, no "roles" key: an empty string would still open the template's section.
            if !identity.roles.isEmpty { facts["roles"] = identity.roles.map(\.rawValue).sorted().joined(separator: ", ") }
            values["session"] = facts
        }
        return values
    }

    // MARK: forms

    /// A POST's form must come from this node's pages: an `Origin` other than the public URL's is
    /// refused, and the session's CSRF token must be in the form (403 otherwise).
    static func checkForm(_ request: Request, csrf: String?, session: PortalSession?, _ backend: PortalBackend) throws(PortalRefusal) {
        if let origin = request.headers[.origin], origin != self.origin(of: backend.publicURL) {
            throw PortalRefusal(status: 403, message: "the form was posted from another site (\(origin.prefix(80)))")
        }
        guard let session, let csrf, constantTimeEqual(Array(csrf.utf8), Array(session.csrf.utf8)) else {
            throw PortalRefusal(status: 403, message: "the form's CSRF token is missing or stale: reload the page and try again")
        }
    }

    /// `scheme://host[:port]` of a URL.
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return url }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// An `application/x-www-form-urlencoded` body of at most `limit` bytes (413 above it).
    static func urlEncodedForm(_ request: Request, limit: Int) async throws -> [String: String] {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            throw PortalRefusal(status: 415, message: "send the form as application/x-www-form-urlencoded")
        }
        return parseForm(String(buffer: try await body(request, limit: limit)))
    }

    /// The request body, at most `limit` bytes (413 above it).
    static func body(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do { return try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw PortalRefusal(status: 413, message: "the form is larger than \(limit) bytes")
        }
    }

    /// The fields of a form body (`FormEncoding`).
    static func parseForm(_ text: String) -> [String: String] { FormEncoding.fields(text) }

    /// A `multipart/form-data` body of at most `limit` bytes, decoded as `Form` (MultipartKit).
    static func multipartForm<Form: Decodable>(_ request: Request, limit: Int, as type: Form.Type) async throws -> Form {
        let contentType = request.headers[.contentType] ?? ""
        guard contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundary = contentType.split(separator: ";").lazy.map({ $0.trimmingCharacters(in: .whitespaces) })
                .first(where: { $0.lowercased().hasPrefix("boundary=") }).map({ String($0.dropFirst("boundary=".count)).trimmingCharacters(in: ["\""]) }),
              !boundary.isEmpty, boundary.utf8.count <= 70 else {
            throw PortalRefusal(status: 415, message: "send the form as multipart/form-data")
        }
        let buffer = try await body(request, limit: limit)
        do { return try FormDataDecoder(nestingDepth: 2).decode(Form.self, from: buffer, boundary: boundary) } catch {
            throw PortalRefusal(status: 400, message: "the form is incomplete or malformed")
        }
    }

    /// A JSON response (the explorer's proof bundles).
    static func json(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Array(data))))
    }
}
