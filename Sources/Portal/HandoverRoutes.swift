import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services
import Vault

/// The custodian's key-handover desk: a patient registered over FHIR has keys this node made and
/// keeps; the hospital (or one of its admins) hands them to her here (`FHIRService.handOver`) as a
/// key file sealed under a one-time code, which the page shows once. She opens the file with the
/// code on the portal's sign-in page and takes control (`membership.rotateKey`, signed in her
/// browser); the node then forgets its copy. Nothing is stored: a second handover seals a new file
/// under a new code, and both open only keys she is about to replace.
enum HandoverRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("handover") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            var values = try base(signedIn, backend)
            if let patient = request.uri.queryParameters["patient"] { values["form"] = ["patient": String(patient.prefix(128))] }
            return PortalPages.html(PortalPages.render("handover", values))
        }
        group.post("handover") { request, _ in
            let (form, signedIn) = try await PharmacyRoutes.postedForm(request, backend)
            var values = try base(signedIn, backend)
            let patient = (form["patient"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            values["form"] = ["patient": String(patient.prefix(128))]
            guard let fhir = backend.fhir else { throw PortalRefusal(status: 503, message: "this node holds no patient records") }
            do {
                let handover = try fhir.handOver(patient: patient, requester: signedIn.identity)
                let file = try JSONEncoder().encode(handover.file)
                values["handover"] = [
                    "patient": handover.patient.hex, "patientShort": String(handover.patient.hex.prefix(16)), "code": handover.code,
                    "fileName": "careledger-handover-\(handover.patient.hex.prefix(16)).json",
                    "fileURL": "data:application/json;base64,\(file.base64EncodedString())",
                ]
            } catch let error as ServiceError {
                guard [.invalid, .notFound, .conflict].contains(error.kind) else { throw PortalRefusal(error) }
                values["error"] = error.message
                return PortalPages.html(PortalPages.render("handover", values), status: HTTPResponse.Status(code: PortalRefusal(error).status))
            }
            return PortalPages.html(PortalPages.render("handover", values))
        }
    }

    /// Whether `identity` may use the desk: on a node with records, the custodian organization or its admins.
    static func mayHandOver(_ identity: Identity, _ backend: PortalBackend) -> Bool {
        backend.fhir != nil && FHIRService.mayHandOverKeys(identity, custodians: Set(backend.access?.custodianIDs ?? []), backend.node.state)
    }

    static func base(_ signedIn: (session: PortalSession, identity: Identity), _ backend: PortalBackend) throws -> [String: Any] {
        guard mayHandOver(signedIn.identity, backend) else {
            throw PortalRefusal(status: 403, message: "only a custodian organization held by this node, or its admins, hand a patient's keys over")
        }
        var values = Portal.layout(backend, signedIn)
        values["handoverPage"] = true
        values["csrf"] = signedIn.session.csrf
        return values
    }
}
