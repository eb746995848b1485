import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// The portal's templates and static files. Both are package resources embedded in the binary
/// (`.embedInCode` in Package.swift): the portal reads no file at run time, so a `careledger`
/// binary copied anywhere serves it whole, and there is no file path for a request to traverse.
enum PortalPages {
    /// Templates by name: `layout` (header, navigation, main, footer) is the parent of every page.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("layout", PackageResources.layout_mustache), ("signin", PackageResources.signin_mustache),
            ("explorer", PackageResources.explorer_mustache), ("error", PackageResources.error_mustache),
            ("patient", PackageResources.patient_mustache), ("consents", PackageResources.consents_mustache),
            ("access-log", PackageResources.access_log_mustache), ("anomalies", PackageResources.anomalies_mustache),
            ("network", PackageResources.network_mustache), ("handover", PackageResources.handover_mustache),
            ("clinician", PackageResources.clinician_mustache), ("clinician-patient", PackageResources.clinician_patient_mustache),
            ("clinician-record", PackageResources.clinician_record_mustache),
            ("clinician-prescription", PackageResources.clinician_prescription_mustache),
            ("records", PackageResources.records_mustache),
            ("claims", PackageResources.claims_mustache), ("trials", PackageResources.trials_mustache),
            ("payer", PackageResources.payer_mustache), ("pharmacy", PackageResources.pharmacy_mustache),
        ]
        for (name, bytes) in templates {
            do { try library.register(String(decoding: bytes, as: UTF8.self), named: name) } catch {
                preconditionFailure("portal template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    /// A static file: its bytes, type and entity tag.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String
    }

    /// Every static file, by the name it is served under (`/portal/static/NAME`).
    static let assets: [String: Asset] = {
        func asset(_ bytes: [UInt8], _ type: String) -> Asset {
            var hasher = Hasher64()
            bytes.forEach { hasher.add($0) }
            return Asset(bytes: bytes, contentType: type, etag: "\"\(String(hasher.value, radix: 16))-\(bytes.count)\"")
        }
        return [
            "portal.css": asset(PackageResources.portal_css, "text/css; charset=utf-8"),
            "verify.js": asset(PackageResources.verify_js, "text/javascript; charset=utf-8"),
            "explorer.js": asset(PackageResources.explorer_js, "text/javascript; charset=utf-8"),
            "signin.js": asset(PackageResources.signin_js, "text/javascript; charset=utf-8"),
            "verifier-vectors.json": asset(PackageResources.verifier_vectors_json, "application/json"),
            "canonical.js": asset(PackageResources.canonical_js, "text/javascript; charset=utf-8"),
            "patient-keys.js": asset(PackageResources.patient_keys_js, "text/javascript; charset=utf-8"),
            "patient-signin.js": asset(PackageResources.patient_signin_js, "text/javascript; charset=utf-8"),
            "patient.js": asset(PackageResources.patient_js, "text/javascript; charset=utf-8"),
            "tx-vectors.json": asset(PackageResources.tx_vectors_json, "application/json"),
            "record-crypto.js": asset(PackageResources.record_crypto_js, "text/javascript; charset=utf-8"),
            "record-vectors.json": asset(PackageResources.record_vectors_json, "application/json"),
            "staff.js": asset(PackageResources.staff_js, "text/javascript; charset=utf-8"),
        ]
    }()

    /// The verifier's test vectors (served to the browser, checked by the Swift tests).
    static var vectors: [UInt8] { PackageResources.verifier_vectors_json }

    /// Renders page `name` with `values`; a missing template is a programmer error.
    static func render(_ name: String, _ values: [String: Any]) -> String {
        guard let html = library.render(values, withTemplate: name) else { preconditionFailure("no portal template \(name)") }
        return html
    }

    /// An HTML response; the security headers are added by `PortalHeaders` to every portal response.
    static func html(_ text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A 303 to `location` (after a form post: the browser then GETs it).
    static func redirect(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.location] = location
        return Response(status: .seeOther, headers: fields)
    }
}

/// FNV-1a, 64 bits: a stable entity tag for a static file (not for security: the files are ours).
struct Hasher64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
}

/// Adds the portal's security headers to every portal response, including error pages, and turns
/// any error into an HTML page (a portal user gets a page, not `/v1`'s JSON).
struct PortalHeaders<Context: RequestContext>: RouterMiddleware {
    /// `default-src 'self'`, no inline script or style (no `'unsafe-inline'`), no framing, forms post only here.
    static var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }

    static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    static var frameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }
    static var openerPolicy: HTTPField.Name { HTTPField.Name("Cross-Origin-Opener-Policy")! }

    let base: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do { response = try await next(request, context) } catch let refusal as PortalRefusal {
            response = Self.errorPage(refusal, base: base)
        } catch let error as any HTTPResponseError {
            response = Self.errorPage(PortalRefusal(status: Int(error.status.code), message: "\(error.status.reasonPhrase)"), base: base)
        } catch {
            context.logger.error("portal: \(error)")
            response = Self.errorPage(PortalRefusal(status: 500, message: "the node could not answer; try again"), base: base)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "same-origin"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.openerPolicy] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    static func errorPage(_ refusal: PortalRefusal, base: String) -> Response {
        let heading = switch refusal.status {
        case 400: "That request could not be used"
        case 401: "Please sign in"
        case 403: "Refused"
        case 404: "Not found"
        case 413: "Too large"
        case 429: "Too many at once"
        case 503: "Busy or unavailable"
        default: "Something went wrong"
        }
        let signIn = refusal.status == 401 || refusal.status == 403
        let page = PortalPages.render("error", ["base": base, "heading": heading, "message": refusal.message,
                                                "next": signIn ? "/sign-in" : "", "nextLabel": signIn ? "Sign in" : "Back to the portal"])
        return PortalPages.html(page, status: HTTPResponse.Status(code: refusal.status))
    }
}
