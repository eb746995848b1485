import Contracts
import FHIR
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The clinician's pages: find a patient she may see, the patient's chart (the records she may
/// read), one record, and a prescription she issued. Every page asks the services `/fhir` and `/v1`
/// answer from — `FHIRService.search`, `everything` and `read` (a consent decision and a durable
/// audit entry per record before anything is decrypted), `LedgerView.prescription` — with the
/// signed-in identity, and shows what they answer: a refusal is shown as such, with nothing of the
/// patient. The forms that write are `ClinicianForms`.
enum ClinicianRoutes {
    typealias SignedIn = (session: PortalSession, identity: Identity)

    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("clinician") { request, _ in
            let (signedIn, fhir) = try await staffSession(request, backend)
            let query = request.uri.queryParameters
            let fields = ["name", "identifier", "birthdate"].map { name in
                (name, query[name[...]].map { String($0).trimmingCharacters(in: .whitespaces) } ?? "")
            }
            var values = Portal.layout(backend, signedIn)
            values["clinicianPages"] = true
            for (name, value) in fields { values[name] = value }
            var status = HTTPResponse.Status.ok
            let criteria = fields.filter { !$0.1.isEmpty }
            if !criteria.isEmpty {
                do throws(FHIRError) {
                    let search = try SearchQuery(type: "Patient", pairs: criteria + [("_count", String(PortalLimits.patientsShown))], strict: true)
                    let result = try await fhir.search(search, requester: signedIn.identity, purpose: .treatment)
                    values["searched"] = true
                    values["total"] = result.total
                    values["results"] = result.matches.map { patientRow($0.resource, id: $0.id) }
                    values["more"] = result.total > result.matches.count
                    values["shown"] = result.matches.count
                } catch {
                    values["error"] = failure(error)
                    status = HTTPResponse.Status(code: error.status)
                }
            }
            return PortalPages.html(PortalPages.render("clinician", values), status: status)
        }
        group.get("clinician/patient") { request, _ in
            let (signedIn, fhir) = try await staffSession(request, backend)
            let id = try patientID(request.uri.queryParameters["id"].map(String.init))
            let purpose = try purpose(request.uri.queryParameters["purpose"].map(String.init))
            return await patientPage(id: id, purpose: purpose, signedIn, backend, fhir)
        }
        group.get("clinician/record") { request, _ in
            let (signedIn, fhir) = try await staffSession(request, backend)
            let query = request.uri.queryParameters
            let patient = try patientID(query["patient"].map(String.init))
            let purpose = try purpose(query["purpose"].map(String.init))
            guard let type = query["type"].map(String.init), FHIRResourceTypes.all.contains(type),
                  let id = query["id"].map(String.init), FHIRJSON.isValidID(id) else {
                throw PortalRefusal(status: 400, message: "name the record as type (an R4 resource type) and id (1–64 of A–Z a–z 0–9 - .)")
            }
            var values = Portal.layout(backend, signedIn)
            values["clinicianPages"] = true
            values["patientId"] = patient
            values["emergency"] = purpose == .emergencyTreatment
            var status = HTTPResponse.Status.ok
            do throws(FHIRError) {
                let found = try await fhir.read(type: type, id: id, requester: signedIn.identity, purpose: purpose)
                var record = recordRow(found)
                record["json"] = String(decoding: FHIRJSON.data(found.resource, pretty: true), as: UTF8.self)
                record["created"] = query["created"] == "1"
                values["record"] = record
            } catch {
                values["refusal"] = error.diagnostics
                status = HTTPResponse.Status(code: error.status)
            }
            return PortalPages.html(PortalPages.render("clinician-record", values), status: status)
        }
        group.get("clinician/prescription") { request, _ in
            let (signedIn, _) = try await staffSession(request, backend)
            guard let id = request.uri.queryParameters["id"].flatMap({ Hash256(hex: String($0)) }) else {
                throw PortalRefusal(status: 400, message: "id must be a prescription id (64 hex characters)")
            }
            let view = await backend.view()
            let prescription: JSONObject
            do throws(ServiceError) { prescription = try await view.prescription(id, as: signedIn.identity) } catch { throw PortalRefusal(error) }
            var values = Portal.layout(backend, signedIn)
            values["clinicianPages"] = true
            var shown = prescription
            shown["expires"] = (prescription["expires_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
            shown["issued"] = (prescription["issued_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
            shown["pharmaciesText"] = (prescription["pharmacies"] as? [String]).map { $0.joined(separator: ", ") } ?? "any pharmacy"
            shown["product"] = prescription["product"] as? String ?? "(unnamed product)"
            values["prescription"] = shown
            if let patient = request.uri.queryParameters["patient"].map(String.init), FHIRJSON.isValidID(patient) { values["patientId"] = patient }
            return PortalPages.html(PortalPages.render("clinician-prescription", values))
        }
    }

    /// The patient's page: her chart as `Patient/{id}/$everything` gives it to this identity (each
    /// record a logged decision), or the refusal and the break-glass form. `extra` carries a form's
    /// input and its error when a post is answered with the page again.
    static func patientPage(id: String, purpose: Purpose, _ signedIn: SignedIn, _ backend: PortalBackend, _ fhir: FHIRService,
                            extra: [String: Any] = [:], status given: HTTPResponse.Status = .ok) async -> Response {
        var values = Portal.layout(backend, signedIn)
        values["clinicianPages"] = true
        values["patientId"] = id
        values["purpose"] = purpose.rawValue
        values["emergency"] = purpose == .emergencyTreatment
        values["minutesMax"] = ConsentContract.breakGlassMinutesMax
        values["justificationMax"] = BreakGlassRequest.justificationBytesMax
        values["quantityMax"] = PrescriptionContract.quantityMax
        values["refillsMax"] = PrescriptionContract.refillsMax
        values["csrf"] = signedIn.session.csrf
        values["observation"] = ["system": "http://loinc.org", "status": "final"]
        values["condition"] = ["system": "http://snomed.info/sct", "clinicalStatus": "active"]
        values["rx"] = ["refills": "0"]
        values["glass"] = ["minutes": "60"]
        var status = given
        do throws(FHIRError) {
            let all = try await fhir.everything(patientID: id, requester: signedIn.identity, purpose: purpose)
            let patient = all.first { $0.type == "Patient" && $0.id == id }
            var shown = patient.map { patientRow($0.resource, id: id) } ?? ["id": id, "name": "Patient/\(id)"]
            if let entry = patient?.entry {
                shown["pseudonym"] = entry.patient.hex
                if purpose == .emergencyTreatment,
                   let grant = ConsentIndex.breakGlass(patient: entry.patient, requester: signedIn.identity.id, in: backend.node.state) {
                    values["emergencyUntil"] = ExplorerRoutes.iso8601(grant.expiresMs)
                }
            }
            values["patient"] = shown
            let records = all.filter { !($0.type == "Patient" && $0.id == id) }.map(recordRow)
                .sorted { ($0["when"] as? String ?? "") > ($1["when"] as? String ?? "") }
            values["records"] = records
            values["recordCount"] = records.count
            values["hasRecords"] = !records.isEmpty
        } catch {
            values["refusal"] = error.diagnostics
            if status == .ok { status = HTTPResponse.Status(code: error.status) }
        }
        for (key, value) in extra { values[key] = value }
        // Which parts open: the form a post came back to, and break-glass when the patient is refused.
        let kind = extra["addKind"] as? String
        values["addObservationOpen"] = kind == "observation"
        values["addConditionOpen"] = kind == "condition"
        values["addJSONOpen"] = kind != nil && kind != "observation" && kind != "condition"
        values["rxOpen"] = extra["openRx"] != nil
        values["glassOpen"] = values["refusal"] != nil || extra["openGlass"] != nil
        let reason = (values["glass"] as? [String: String])?["reason"]
        values["reasons"] = BreakGlassReason.allCases.map { ["name": $0.rawValue, "label": reasonLabel($0), "selected": $0.rawValue == reason] as [String: Any] }
        return PortalPages.html(PortalPages.render("clinician-patient", values), status: status)
    }

    // MARK: what a page shows of a resource

    /// A Patient as a search result or a chart's heading: name, birth date, gender, identifiers.
    static func patientRow(_ resource: [String: Any], id: String) -> [String: Any] {
        let names = resource["name"] as? [[String: Any]] ?? []
        let name = names.first.map { entry -> String in
            if let text = entry["text"] as? String { return text }
            return ((entry["given"] as? [String] ?? []) + [entry["family"] as? String].compactMap { $0 }).joined(separator: " ")
        }
        let identifiers = (resource["identifier"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
        return ["id": id, "name": (name?.isEmpty == false ? name : nil) ?? "Patient/\(id)", "birthDate": resource["birthDate"] as? String ?? "unknown",
                "gender": resource["gender"] as? String ?? "unknown", "identifiers": identifiers.isEmpty ? "none" : identifiers.joined(separator: ", ")]
    }

    /// A record as a chart's row: its type and id, what it says in a few words, when, its version.
    static func recordRow(_ version: FHIRVersion) -> [String: Any] {
        let resource = version.resource
        let when = ["effectiveDateTime", "onsetDateTime", "authoredOn", "recordedDate", "issued", "date", "occurrenceDateTime"]
            .lazy.compactMap { resource[$0] as? String }.first
            ?? ((resource["period"] as? [String: Any])?["start"] as? String)
            ?? FHIRDateTime.instant(ms: version.lastUpdatedMs)
        var what = [codeText(resource["code"]) ?? codeText(resource["medicationCodeableConcept"]) ?? codeText(resource["type"])]
        if let quantity = resource["valueQuantity"] as? [String: Any], let value = quantity["value"] {
            what.append("\(value)" + ((quantity["unit"] as? String ?? quantity["code"] as? String).map { " \($0)" } ?? ""))
        } else if let text = resource["valueString"] as? String {
            what.append(text)
        } else if let value = codeText(resource["valueCodeableConcept"]) {
            what.append(value)
        }
        if let status = codeText(resource["clinicalStatus"]) ?? resource["status"] as? String { what.append("(\(status))") }
        let summary = what.compactMap { $0 }.joined(separator: " ")
        return ["type": version.type, "id": version.id, "what": summary.isEmpty ? version.type : summary, "when": when,
                "version": version.version, "updated": FHIRDateTime.instant(ms: version.lastUpdatedMs)]
    }

    /// A CodeableConcept's text, else its first coding's display, else its first code.
    static func codeText(_ value: Any?) -> String? {
        guard let concept = value as? [String: Any] else { return nil }
        if let text = concept["text"] as? String { return text }
        let coding = (concept["coding"] as? [[String: Any]])?.first
        return coding?["display"] as? String ?? coding?["code"] as? String
    }

    static func reasonLabel(_ reason: BreakGlassReason) -> String {
        switch reason {
        case .unconscious: "The patient is unconscious"
        case .lifeThreatening: "A life-threatening emergency"
        case .unableToConsent: "The patient is unable to consent"
        case .other: "Another emergency (say which below)"
        }
    }

    // MARK: requests

    /// The signed-in staff member (a patient has her own pages: 403; not signed in: 401) and the
    /// node's FHIR facade (a node without records: 503).
    static func staffSession(_ request: Request, _ backend: PortalBackend) async throws -> (SignedIn, FHIRService) {
        guard let signedIn = await Portal.signedIn(request, backend) else { throw PortalRefusal(status: 401, message: "sign in to see your patients") }
        guard signedIn.identity.kind != .patient else { throw PortalRefusal(status: 403, message: "these pages are for clinicians; yours are under My keys") }
        guard let fhir = backend.fhir else { throw PortalRefusal(status: 503, message: "this node holds no records") }
        return (signedIn, fhir)
    }

    /// A FHIR Patient id from a query or a form.
    static func patientID(_ text: String?) throws(PortalRefusal) -> String {
        guard let text, FHIRJSON.isValidID(text) else {
            throw PortalRefusal(status: 400, message: "the patient id must be a FHIR id: 1–64 of A–Z a–z 0–9 - . (not . or ..)")
        }
        return text
    }

    /// The purpose of use the pages read under: treatment, or emergency treatment after a break-glass.
    static func purpose(_ text: String?) throws(PortalRefusal) -> Purpose {
        guard let text, !text.isEmpty else { return .treatment }
        guard let purpose = Purpose(rawValue: text), [.treatment, .emergencyTreatment].contains(purpose) else {
            throw PortalRefusal(status: 400, message: "purpose must be TREAT or ETREAT")
        }
        return purpose
    }

    /// A FHIR error as a form shows it: the diagnostics and every issue of its OperationOutcome.
    static func failure(_ error: FHIRError) -> [String: Any] {
        let issues = ((error.outcome["issue"] as? [[String: Any]]) ?? []).map { issue -> [String: Any] in
            ["severity": issue["severity"] as? String ?? "error", "code": issue["code"] as? String ?? "",
             "diagnostics": issue["diagnostics"] as? String ?? "", "expression": (issue["expression"] as? [String])?.joined(separator: ", ") ?? ""]
        }
        return ["message": error.diagnostics, "issues": issues, "hasIssues": issues.count > 1, "status": error.status]
    }
}
