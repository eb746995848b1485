import Contracts
import FHIR
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The clinician's forms: add a record (`FHIRService.create`, as `POST /fhir/{type}`: the R4
/// validator, then registered by the custodian on her behalf), break the glass
/// (`LedgerClient.breakGlass`, as `careledger break-glass`) and prescribe
/// (`LedgerClient.issuePrescription`, as `careledger rx issue`). Break-glass and prescriptions are
/// transactions the clinician herself signs: the node holds no staff member's private key, so
/// those two forms take her key file and passphrase, which the node opens for that one signature
/// (as at sign-in) and forgets. A refusal is shown on the form, with the service's own words.
enum ClinicianForms {
    /// The break-glass form's fields (multipart: it carries the key file).
    struct BreakGlassForm: Decodable {
        var csrf: String?
        var patient: String?
        var reason: String?
        var justification: String?
        var minutes: String?
        var acknowledge: String?
        var passphrase: String?
        var key: Data?
    }

    /// The prescribe form's fields (multipart: it carries the key file).
    struct PrescribeForm: Decodable {
        var csrf: String?
        var patient: String?
        var purpose: String?
        var gtin: String?
        var quantity: String?
        var refills: String?
        var expires: String?
        var pharmacies: String?
        var passphrase: String?
        var key: Data?
    }

    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.post("clinician/patient/records") { request, _ in
            let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.recordFormBytesMax)
            let (signedIn, fhir) = try await ClinicianRoutes.staffSession(request, backend)
            try Portal.checkForm(request, csrf: form["csrf"], session: signedIn.session, backend)
            let patient = try ClinicianRoutes.patientID(form["patient"])
            let purpose = try ClinicianRoutes.purpose(form["purpose"])
            let kind = form["kind"] ?? ""
            do throws(FHIRError) {
                let built = try resource(kind, form, patient: patient)
                let type = built["resourceType"] as? String ?? ""
                let created = try await fhir.create(built, type: type, requester: signedIn.identity)
                return PortalPages.redirect("\(Portal.basePath)/clinician/record?patient=\(patient)&type=\(created.type)&id=\(created.id)"
                                            + (purpose == .emergencyTreatment ? "&purpose=ETREAT" : "") + "&created=1")
            } catch {
                var extra: [String: Any] = ["addError": ClinicianRoutes.failure(error), "addKind": kind]
                switch kind {
                case "observation": extra["observation"] = form
                case "condition": extra["condition"] = form
                default: extra["rawJSON"] = form["json"] ?? ""
                }
                return await ClinicianRoutes.patientPage(id: patient, purpose: purpose, signedIn, backend, fhir, extra: extra,
                                                         status: HTTPResponse.Status(code: error.status))
            }
        }
        group.post("clinician/patient/break-glass") { request, _ in
            let form = try await Portal.multipartForm(request, limit: PortalLimits.signingFormBytesMax, as: BreakGlassForm.self)
            let (signedIn, fhir) = try await ClinicianRoutes.staffSession(request, backend)
            try Portal.checkForm(request, csrf: form.csrf, session: signedIn.session, backend)
            let patient = try ClinicianRoutes.patientID(form.patient)
            func again(_ message: String, _ status: Int) async -> Response {
                let values: [String: String] = ["reason": form.reason ?? "", "justification": form.justification ?? "", "minutes": form.minutes ?? ""]
                return await ClinicianRoutes.patientPage(id: patient, purpose: .treatment, signedIn, backend, fhir,
                                                         extra: ["glassError": message, "glass": values, "openGlass": true],
                                                         status: HTTPResponse.Status(code: status))
            }
            guard form.acknowledge == "yes" else {
                return await again("Tick the box to confirm you understand that this access is logged on the ledger and the patient is told.", 400)
            }
            guard let reason = form.reason.flatMap(BreakGlassReason.init(rawValue:)) else { return await again("Choose the reason for the emergency.", 400) }
            guard let minutes = form.minutes.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
                return await again("Say for how many minutes (a whole number, 1–\(ConsentContract.breakGlassMinutesMax)).", 400)
            }
            // The patient's pseudonym, from the Patient record's on-chain entry: the contract
            // decides who may break the glass on it; nothing of the patient is read here.
            let record = fhir.recordID(type: "Patient", id: patient)
            guard let entry = RecordIndex.current(record, in: backend.node.state), entry.resourceType == "Patient", !entry.isErased else {
                return await again(FHIRService.notVisible("Patient", patient).diagnostics, 404)
            }
            let emergency = BreakGlassRequest(patient: entry.patient, scope: nil, firstRead: record, reason: reason,
                                              justification: form.justification ?? "", minutes: minutes)
            do throws(ServiceError) { try emergency.check() } catch { return await again(error.message, 400) }
            do {
                let keys = try await openKey(form.key, passphrase: form.passphrase, for: signedIn.identity, backend)
                _ = try await fhir.client.breakGlass(emergency, as: keys, sender: signedIn.identity.id, access: fhir.access)
            } catch {
                let (status, message) = failure(error)
                return await again(message, status)
            }
            return PortalPages.redirect("\(Portal.basePath)/clinician/patient?id=\(patient)&purpose=ETREAT")
        }
        group.post("clinician/patient/prescribe") { request, _ in
            let form = try await Portal.multipartForm(request, limit: PortalLimits.signingFormBytesMax, as: PrescribeForm.self)
            let (signedIn, fhir) = try await ClinicianRoutes.staffSession(request, backend)
            try Portal.checkForm(request, csrf: form.csrf, session: signedIn.session, backend)
            let patient = try ClinicianRoutes.patientID(form.patient)
            let purpose = try ClinicianRoutes.purpose(form.purpose)
            func again(_ message: String, _ status: Int) async -> Response {
                let values: [String: String] = ["gtin": form.gtin ?? "", "quantity": form.quantity ?? "", "refills": form.refills ?? "",
                                                "expires": form.expires ?? "", "pharmacies": form.pharmacies ?? ""]
                return await ClinicianRoutes.patientPage(id: patient, purpose: purpose, signedIn, backend, fhir,
                                                         extra: ["rxError": message, "rx": values, "openRx": true], status: HTTPResponse.Status(code: status))
            }
            let issue: PrescriptionContract.Issue
            do {
                // Whom for: the Patient record this clinician may read (a logged decision), and its pseudonym.
                let read = try await fhir.read(type: "Patient", id: patient, requester: signedIn.identity, purpose: purpose)
                issue = try await order(form, patient: patient, pseudonym: read.entry.patient, prescriber: signedIn.identity, backend)
            } catch {
                let (status, message) = failure(error)
                return await again(message, status)
            }
            let issued: Hash256
            do {
                let keys = try await openKey(form.key, passphrase: form.passphrase, for: signedIn.identity, backend)
                issued = try await fhir.client.issuePrescription(issue, as: keys, sender: signedIn.identity.id).receipt.status.transactionID
            } catch {
                let (status, message) = failure(error)
                return await again(message, status)
            }
            return PortalPages.redirect("\(Portal.basePath)/clinician/prescription?id=\(issued.hex)&patient=\(patient)")
        }
    }

    // MARK: add a record

    /// The resource an add-record form describes: an Observation or a Condition built from its
    /// fields (an empty field is left out, so the validator names what is missing), or the raw
    /// JSON typed in. It must be about this page's patient.
    static func resource(_ kind: String, _ form: [String: String], patient: String) throws(FHIRError) -> [String: Any] {
        func field(_ name: String) -> String? {
            form[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        func concept(system: String?, code: String?, display: String?) -> [String: Any]? {
            guard code != nil || display != nil else { return nil }
            var coding: [String: Any] = [:]
            if let system { coding["system"] = system }
            if let code { coding["code"] = code }
            if let display { coding["display"] = display }
            var codeable: [String: Any] = ["coding": [coding]]
            if let display { codeable["text"] = display }
            return codeable
        }
        var resource: [String: Any]
        let subject = ["reference": "Patient/\(patient)"]
        switch kind {
        case "observation":
            resource = ["resourceType": "Observation", "subject": subject]
            resource["status"] = field("status")
            resource["code"] = concept(system: field("system"), code: field("code"), display: field("display"))
            resource["effectiveDateTime"] = field("effective")
            if let value = field("value") {
                var quantity: [String: Any] = ["value": number(value)]
                if let unit = field("unit") { (quantity["unit"], quantity["system"], quantity["code"]) = (unit, "http://unitsofmeasure.org", unit) }
                resource["valueQuantity"] = quantity
            }
        case "condition":
            resource = ["resourceType": "Condition", "subject": subject]
            resource["clinicalStatus"] = field("clinicalStatus").map {
                ["coding": [["system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": $0]]]
            }
            resource["code"] = concept(system: field("system"), code: field("code"), display: field("display"))
            resource["onsetDateTime"] = field("onset")
        case "json":
            guard let text = field("json") else { throw .invalid("type or paste a FHIR R4 resource (JSON) first") }
            resource = try FHIRJSON.object(Array(text.utf8))
            let references = FHIRResourceTypes.patientElements.flatMap { FHIRService.references(in: resource, element: $0) }
            guard references.contains("Patient/\(patient)") else {
                throw .invalid("the resource must be about this patient: its subject (or patient) must be Patient/\(patient)")
            }
        default:
            throw .invalid("choose what to add: an observation, a condition, or a FHIR resource")
        }
        return resource
    }

    /// A form's number as JSON has it (so the validator sees a decimal), or the text as typed (so
    /// the validator names the element that is not one).
    static func number(_ text: String) -> Any {
        guard text.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil,
              let parsed = try? FHIRJSON.object(Array("{\"v\":\(text)}".utf8)), let value = parsed["v"] else { return text }
        return value
    }

    // MARK: prescribe

    /// The prescription a form describes. Only the SHA-256 of the MedicationRequest it stands for
    /// (sorted-key JSON, built from the form) goes on-chain, as `careledger rx issue` hashes the
    /// request file; the call's own checks and the contract's are `LedgerClient.issuePrescription`'s,
    /// here only the fields are read.
    static func order(_ form: PrescribeForm, patient: String, pseudonym: IdentityID, prescriber: Identity,
                      _ backend: PortalBackend) async throws -> PrescriptionContract.Issue {
        let gtin = (form.gtin ?? "").trimmingCharacters(in: .whitespaces)
        guard let quantity = Int64((form.quantity ?? "").trimmingCharacters(in: .whitespaces)) else {
            throw ServiceError("the quantity (units per fill) must be a whole number, 1–\(PrescriptionContract.quantityMax)")
        }
        let refillsText = (form.refills ?? "").trimmingCharacters(in: .whitespaces)
        guard let refills = refillsText.isEmpty ? 0 : Int64(refillsText) else {
            throw ServiceError("refills must be a whole number, 0–\(PrescriptionContract.refillsMax)")
        }
        let expires = (form.expires ?? "").trimmingCharacters(in: .whitespaces)
        guard let expiryDay = day(expires) else { throw ServiceError("the expiry must be a date, YYYY-MM-DD") }
        var pharmacies: [IdentityID] = []
        for text in (form.pharmacies ?? "").split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
            guard let id = Hash256(hex: String(text)) else { throw ServiceError("“\(text.prefix(70))” is not a pharmacy's ledger id (64 hex characters)") }
            pharmacies.append(id)
        }
        // The end of the expiry day (UTC): the last instant a fill is accepted.
        let expiresMs = Int64(expiryDay + 1) * 86_400_000 - 1
        let nowMs = await backend.node.nextBlockTimeMs
        var dispense: [String: Any] = ["quantity": ["value": quantity], "numberOfRepeatsAllowed": refills,
                                       "validityPeriod": ["end": expires]]
        if !pharmacies.isEmpty { dispense["performer"] = ["identifier": ["system": FHIRService.identitySystem, "value": pharmacies[0].hex]] }
        let request: [String: Any] = [
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": ["reference": "Patient/\(patient)"],
            "medicationCodeableConcept": ["coding": [["system": "https://www.gs1.org/gtin", "code": gtin]]],
            "requester": ["identifier": ["system": FHIRService.identitySystem, "value": prescriber.id.hex]],
            "authoredOn": FHIRDateTime.instant(ms: nowMs), "dispenseRequest": dispense,
        ]
        return PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256(FHIRJSON.data(request)), patient: pseudonym, gtin: gtin,
                                          quantity: quantity, refills: refills, expiresMs: expiresMs, pharmacies: pharmacies.isEmpty ? nil : pharmacies)
    }

    /// Days since 1970-01-01 of a `YYYY-MM-DD` date that exists, else nil.
    static func day(_ text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        let days = CivilCalendar.daysSince1970(year: year, month: month, day: day)
        let back = CivilCalendar.date(daysSince1970: days)
        return back.year == year && back.month == month && back.day == day ? days : nil
    }

    // MARK: signing

    /// Opens the key file uploaded with a form (as at sign-in: at most `keyFileOpeningsMax` at once),
    /// for one signature by the signed-in identity: a file of anyone else's key is refused.
    static func openKey(_ file: Data?, passphrase: String?, for identity: Identity, _ backend: PortalBackend) async throws -> IdentityKeys {
        guard let file, !file.isEmpty else { throw PortalRefusal(status: 400, message: "choose your key file: this form is signed with your key") }
        guard backend.keyFileOpenings.enter() else {
            throw PortalRefusal(status: 503, message: "too many key files are being opened at once (\(PortalLimits.keyFileOpeningsMax)); try again")
        }
        defer { backend.keyFileOpenings.leave() }
        let keys = try await SignInRoutes.offPool { () throws(ServiceError) in try StoredKey.openUploaded(Array(file), passphrase: passphrase) }
        guard keys.signingPublicKey.rawValue == identity.signingKey.rawValue else {
            throw PortalRefusal(status: 403, message: "this key file is not the signed-in identity's current key; choose your own")
        }
        return keys
    }

    /// Any error of a form's work as the status and the words the form shows.
    static func failure(_ error: any Error) -> (Int, String) {
        switch error {
        case let error as FHIRError: return (error.status, error.diagnostics)
        case let error as Refused: return (422, "The ledger refused it (\(error.code)): \(error.message)")
        case let error as AccessError: return (FHIRService.map(error).status, FHIRService.map(error).diagnostics)
        default:
            let refusal = SignInRoutes.refusal(error)
            return (refusal.status, refusal.message)
        }
    }
}
