import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The pharmacist's page: check a pack — typed (GTIN and serial) or scanned (a GS1 DataMatrix's
/// content or its bracketed element string, read by `GS1Scan` as the CLI reads it) — against the
/// ledger (`LedgerView.serial`, also `GET /v1/supply/serials/…`: genuine or the incident, at the head
/// block's time), and fill a prescription with scanned packs. The fill is the `rx.fill` transaction
/// `careledger rx fill` signs, signed here in the browser with the pharmacist's key and posted to
/// `POST /v1/txs`; the page first reads the prescription (`LedgerView.prescription`, a logged
/// decision) and the packs, and shows the contract's answer.
enum PharmacyRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("pharmacy") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            var values = try base(signedIn, backend)
            if let text = request.uri.queryParameters["prescription"] {
                guard let id = Hash256(hex: String(text)) else { throw PortalRefusal(status: 400, message: "a prescription id is 64 hex characters") }
                let view = await backend.view()
                values["prescription"] = try await PayerRoutes.serviceCall { () async throws(ServiceError) in
                    prescriptionRow(try await view.prescription(id, as: signedIn.identity))
                }
                values["fillForm"] = ["prescription": id.hex]
            }
            return PortalPages.html(PortalPages.render("pharmacy", values))
        }
        group.post("pharmacy/verify") { request, _ in
            let (form, signedIn) = try await postedForm(request, backend)
            var values = try base(signedIn, backend)
            let fields = ["scan", "gtin", "serial"].map { (form[$0] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
            values["verifyForm"] = ["scan": fields[0], "gtin": fields[1], "serial": fields[2]]
            let view = await backend.view()
            do {
                let pack: ScannedPack
                if !fields[0].isEmpty {
                    pack = try GS1Scan.parse(fields[0])
                } else if !fields[1].isEmpty || !fields[2].isEmpty {
                    let gtin = try SupplyCLI.gtin(fields[1], "GTIN")
                    try SupplyCLI.checkSerial(fields[2])
                    pack = ScannedPack(sgtin: SGTIN(gtin: gtin, serial: fields[2]))
                } else {
                    throw ServiceError("scan the pack's DataMatrix into the first field, or type its GTIN and serial")
                }
                values["result"] = serialRow(try view.serial(scanned: pack), view: view, pack: pack)
            } catch {
                values["verifyError"] = (error as? ServiceError)?.message ?? "\(error)"
                return PortalPages.html(PortalPages.render("pharmacy", values), status: .badRequest)
            }
            return PortalPages.html(PortalPages.render("pharmacy", values))
        }
        group.post("pharmacy/fill") { request, _ in
            let (form, signedIn) = try await postedForm(request, backend)
            var values = try base(signedIn, backend)
            let idText = (form["prescription"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            let packs = (form["packs"] ?? "").split(whereSeparator: \.isNewline).map(String.init)
            values["fillForm"] = ["prescription": idText, "packs": packs.joined(separator: "\n")]
            let view = await backend.view()
            do {
                guard let id = Hash256(hex: idText) else { throw ServiceError("a prescription id is 64 hex characters") }
                let prescription = try await view.prescription(id, as: signedIn.identity)
                values["prescription"] = prescriptionRow(prescription)
                guard !packs.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
                    throw ServiceError("scan the packs to dispense, one a line")
                }
                let units = try SupplyCLI.units(packs, gtin: prescription["gtin"] as? String, commas: false)
                var rows: [[String: Any]] = []
                for unit in units {
                    let standing = try view.serial(gtin: unit.gtin, serial: unit.serial)
                    rows.append(["gtin": unit.gtin, "serial": unit.serial, "sgtin": unit.description, "verdict": standing["verdict"] ?? "",
                                 "genuine": standing["verdict"] as? String == "genuine", "verdictText": standing["verdict_text"] ?? "",
                                 "owner": name(standing["owner"], standing)])
                }
                values["fill"] = ["prescription": id.hex, "units": rows, "count": units.count]
            } catch {
                values["fillError"] = (error as? ServiceError)?.message ?? "\(error)"
                return PortalPages.html(PortalPages.render("pharmacy", values), status: HTTPResponse.Status(code: SignInRoutes.refusal(error).status))
            }
            return PortalPages.html(PortalPages.render("pharmacy", values))
        }
    }

    /// A posted form of a signed-in session with its CSRF token (403 otherwise).
    static func postedForm(_ request: Request, _ backend: PortalBackend) async throws -> ([String: String], (session: PortalSession, identity: Identity)) {
        let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.formBytesMax)
        let signedIn = await Portal.signedIn(request, backend)
        try Portal.checkForm(request, csrf: form["csrf"], session: signedIn?.session, backend)
        guard let signedIn else { throw PortalRefusal(status: 401, message: "sign in again: the session has ended") }
        return (form, signedIn)
    }

    static func base(_ signedIn: (session: PortalSession, identity: Identity), _ backend: PortalBackend) throws -> [String: Any] {
        guard signedIn.identity.kind != .patient else { throw PortalRefusal(status: 403, message: "the pharmacy page is for staff") }
        var values = Portal.layout(backend, signedIn)
        values["pharmacyPage"] = true
        values["csrf"] = signedIn.session.csrf
        values["page"] = PatientRoutes.pageData(signedIn.identity, backend)
        values["scanBytesMax"] = GS1Scan.textBytesMax
        return values
    }

    /// The display name a read model's `names` table gives an id.
    static func name(_ id: Any?, _ object: JSONObject) -> String {
        guard let hex = id as? String else { return "—" }
        return (object["names"] as? [String: String])?[hex] ?? String(hex.prefix(16)) + "…"
    }

    static func time(_ ms: Any?) -> String { (ms as? Int64).map(ExplorerRoutes.iso8601) ?? "" }

    /// A serial's standing for the page: the verdict, the facts, the chain of custody, the incidents.
    static func serialRow(_ serial: JSONObject, view: LedgerView, pack: ScannedPack) -> [String: Any] {
        var row = serial
        let verdict = serial["verdict"] as? String ?? ""
        row["genuine"] = verdict == "genuine"
        row["expired"] = verdict == "expired"
        row["known"] = serial["known"] as? Bool == true
        row["ownerName"] = name(serial["owner"], serial)
        row["manufacturerName"] = name(serial["manufacturer"], serial)
        row["pendingName"] = serial["pending_recipient"] is String ? name(serial["pending_recipient"], serial) : nil
        row["asOf"] = time(serial["as_of_ms"])
        row["printedExpiry"] = pack.expiryMs.map { SupplyCLI.expiryDay($0) }
        row["printedLot"] = pack.lot
        if let recall = serial["recall"] as? JSONObject {
            row["recallText"] = "\(recall["reason"] as? String ?? "recalled"), by \(name(recall["organization"], serial)) at block \(recall["height"] ?? "?")"
        }
        row["custody"] = (serial["custody"] as? [JSONObject] ?? []).map { event -> [String: Any] in
            var out = event
            out["fromName"] = event["from"] is String ? name(event["from"], serial) : "—"
            out["toName"] = event["to"] is String ? name(event["to"], serial) : "—"
            out["when"] = time(event["time_ms"])
            return out
        }
        row["incidentRows"] = (serial["incident_records"] as? [JSONObject] ?? []).map { record -> [String: Any] in
            var out = record
            out["reporter"] = name(record["organization"], serial)
            out["when"] = time(record["time_ms"])
            out["idShort"] = String((record["id"] as? String ?? "").prefix(16))
            return out
        }
        row["hasIncidents"] = (serial["incident_count"] as? Int64 ?? 0) > 0
        // Anything but genuine (or plain expiry) may be reported: `supply.verify` with what the pack says.
        if verdict != "genuine" {
            row["report"] = ["gtin": pack.sgtin.gtin, "serial": pack.sgtin.serial, "lot": pack.lot ?? "",
                             "expiryMs": pack.expiryMs.map { String($0) } ?? ""]
        }
        return row
    }

    /// A prescription for the page (as `LedgerView.prescription` shows it).
    static func prescriptionRow(_ rx: JSONObject) -> [String: Any] {
        var row = rx
        row["prescriberName"] = name(rx["prescriber"], rx)
        row["organizationName"] = name(rx["organization"], rx)
        row["patientShort"] = String((rx["patient"] as? String ?? "").prefix(12))
        row["expires"] = time(rx["expires_ms"])
        row["issued"] = time(rx["issued_ms"])
        row["active"] = rx["status"] as? String == "active"
        row["hasFills"] = !(rx["fills"] as? [JSONObject] ?? []).isEmpty
        row["fillRows"] = (rx["fills"] as? [JSONObject] ?? []).map { fill -> [String: Any] in
            var out = fill
            out["pharmacyName"] = name(fill["pharmacy"], rx)
            out["byName"] = name(fill["by"], rx)
            out["when"] = time(fill["time_ms"])
            out["unitsText"] = (fill["units"] as? [String] ?? []).joined(separator: ", ")
            return out
        }
        return row
    }
}
