import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The patient's pages: her keys (taking control of keys a custodian made), her records (decrypted in
/// the browser), her consents (grant and revoke), her access log (break-glass justifications opened in
/// the browser, new entries live), her claims and prescriptions, and her trial consents (withdrawal).
/// The pages only read, through the services `/v1` reads with (`AccessService.patientRecords`,
/// `patientConsents`, `accessLog`, `breakGlassNotices`, `patientClaims`, `patientPrescriptions`,
/// `patientTrials`): every write is a transaction the browser signs with the key it holds and posts to
/// `POST /v1/txs`, where admission and the contracts decide, as for any client, and record content
/// reaches the browser only as `GET /v1/records/{id}/release` answers it, wrapped to her key. The
/// server never sees a patient's private key.
enum PatientRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.post("patient/register") { request, _ in try await register(request, backend) }
        group.get("patient") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            var values = Portal.layout(backend, signedIn)
            values["patientKeys"] = true
            values["page"] = pageData(patient, backend)
            return PortalPages.html(PortalPages.render("patient", values))
        }
        group.get("patient/consents") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            let access = try accessService(backend)
            let listed = try serviceCall { () throws(ServiceError) in
                try access.patientConsents(patient.id, as: patient, after: nil, limit: PortalLimits.consentsShown)
            }
            let state = backend.node.state
            let consents = (listed["consents"] as? [JSONObject] ?? []).map { consent -> [String: Any] in
                var row = consent
                let grantee = consent["grantee"] as? JSONObject ?? [:]
                row["granteeText"] = granteeText(grantee, state)
                row["categoriesText"] = (consent["categories"] as? [String]).flatMap { $0.isEmpty ? nil : $0.joined(separator: ", ") }
                    ?? "any non-sensitive"
                row["purposesText"] = (consent["purposes"] as? [String] ?? []).joined(separator: ", ")
                row["actionsText"] = (consent["actions"] as? [String] ?? []).joined(separator: ", ")
                row["untilText"] = (consent["end_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? "until revoked"
                return row
            }
            var values = Portal.layout(backend, signedIn)
            values["patientConsents"] = true
            values["page"] = pageData(patient, backend)
            values["active"] = consents.filter { $0["active"] as? Bool == true }
            values["revoked"] = consents.filter { $0["active"] as? Bool != true }
            values["organizations"] = access.custodianIDs.compactMap { Directory.identity($0, in: state) }
                .map { ["id": $0.id.hex, "label": $0.label] }
            values["roles"] = Role.allCases.map(\.rawValue).sorted()
            values["sensitive"] = SensitivityCategory.allCases.filter(\.isSensitive).map { ["name": $0.rawValue, "label": categoryLabel($0)] }
            values["purposes"] = Purpose.allCases.map { ["name": $0.rawValue, "label": purposeLabel($0), "checked": $0 == .treatment] as [String: Any] }
            values["scopeItemsMax"] = ConsentContract.scopeItemsMax
            return PortalPages.html(PortalPages.render("consents", values))
        }
        group.get("patient/records") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            let access = try accessService(backend)
            let listed: JSONObject
            do throws(ServiceError) { listed = try await access.patientRecords(patient.id, as: patient, after: nil, limit: PortalLimits.recordsShown) } catch {
                throw PortalRefusal(error)
            }
            let state = backend.node.state
            let records = (listed["records"] as? [JSONObject] ?? []).sorted { ($0["time_ms"] as? Int64 ?? 0) > ($1["time_ms"] as? Int64 ?? 0) }
                .map { record -> [String: Any] in
                    var row = record
                    row["recordShort"] = String((record["record"] as? String ?? "").prefix(12))
                    row["when"] = (record["time_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                    row["custodianText"] = identityLabel(record["custodian"] as? String, state)
                    row["categoryText"] = (record["category"] as? String).flatMap(SensitivityCategory.init(rawValue:)).map(categoryLabel)
                        ?? (record["category"] as? String ?? "")
                    return row
                }
            var values = Portal.layout(backend, signedIn)
            values["patientRecords"] = true
            values["page"] = pageData(patient, backend)
            values["records"] = records
            values["hasRecords"] = !records.isEmpty
            values["recordsMax"] = PortalLimits.recordsShown
            values["more"] = listed["next_after"] != nil
            return PortalPages.html(PortalPages.render("records", values))
        }
        group.get("patient/claims") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            let access = try accessService(backend)
            let claims: JSONObject, prescriptions: JSONObject
            do throws(ServiceError) {
                claims = try await access.patientClaims(patient.id, as: patient)
                prescriptions = try await access.patientPrescriptions(patient.id, as: patient)
            } catch { throw PortalRefusal(error) }
            let state = backend.node.state
            var values = Portal.layout(backend, signedIn)
            values["patientClaims"] = true
            values["claims"] = (claims["claims"] as? [JSONObject] ?? []).reversed().map { claim -> [String: Any] in
                var row = claim
                let currency = claim["currency"] as? String ?? ""
                row["idShort"] = String((claim["id"] as? String ?? "").prefix(12))
                row["providerText"] = identityLabel(claim["provider"] as? String, state)
                row["when"] = (claim["time_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                for field in ["submitted", "eligible", "payer", "patient", "paid"] {
                    row["\(field)Text"] = money(claim["\(field)_minor"] as? Int64, currency)
                }
                row["codes"] = (claim["items"] as? [JSONObject] ?? []).compactMap { $0["code"] as? String }.joined(separator: ", ")
                return row
            }
            values["prescriptions"] = (prescriptions["prescriptions"] as? [JSONObject] ?? []).map { rx -> [String: Any] in
                var row = rx
                let names = rx["names"] as? [String: String] ?? [:]
                row["idShort"] = String((rx["id"] as? String ?? "").prefix(12))
                row["productText"] = (rx["product"] as? String) ?? (rx["gtin"] as? String ?? "")
                row["prescriberText"] = (rx["organization"] as? String).flatMap { names[$0] } ?? identityLabel(rx["organization"] as? String, state)
                row["issued"] = (rx["issued_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                row["expires"] = (rx["expires_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                return row
            }
            values["prescriptionsComplete"] = prescriptions["complete"] as? Bool ?? true
            return PortalPages.html(PortalPages.render("claims", values))
        }
        group.get("patient/trials") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            let access = try accessService(backend)
            let trials: JSONObject
            do throws(ServiceError) { trials = try await access.patientTrials(patient.id, as: patient) } catch { throw PortalRefusal(error) }
            let state = backend.node.state
            var values = Portal.layout(backend, signedIn)
            values["patientTrials"] = true
            values["page"] = pageData(patient, backend)
            let rows = (trials["trials"] as? [JSONObject] ?? []).map { trial -> [String: Any] in
                var row = trial
                let status = trial["status"] as? String ?? ""
                row["sponsorText"] = identityLabel(trial["sponsor"] as? String, state)
                row["siteText"] = (trial["enrolled_site"] as? String).map { identityLabel($0, state) } ?? ""
                row["active"] = status != "withdrawn"
                row["statusText"] = switch status {
                case "consented": "consented (not enrolled yet)"
                case "enrolled": "enrolled"
                case "withdrawn": "withdrawn"
                default: status
                }
                return row
            }
            values["active"] = rows.filter { $0["active"] as? Bool == true }
            values["withdrawn"] = rows.filter { $0["active"] as? Bool != true }
            values["complete"] = trials["complete"] as? Bool ?? true
            return PortalPages.html(PortalPages.render("trials", values))
        }
        group.get("patient/access-log") { request, _ in
            let (signedIn, patient) = try await patientSession(request, backend)
            let access = try accessService(backend)
            var before: UInt64?
            if let text = request.uri.queryParameters["before"] {
                guard let index = UInt64(String(text)) else { throw PortalRefusal(status: 400, message: "before is an access-log index") }
                before = index
            }
            // Where the page's event stream starts: read before the log, so no entry falls between the two.
            let eventsFrom = "\(await backend.node.headHeader.logSize).\((try? access.auditSize()) ?? 0)"
            let (log, notices) = try serviceCall { () throws(ServiceError) in
                (try access.accessLogNewestFirst(patient.id, as: patient, before: before, limit: PortalLimits.accessEntriesShown),
                 try access.breakGlassNotices(patient.id, as: patient))
            }
            let state = backend.node.state
            let label = { (hex: String?) in identityLabel(hex, state) }
            let entries = log.entries.map { entry -> [String: Any] in
                var row = entry
                let outcome = entry["outcome"] as? String ?? ""
                row["who"] = label(entry["requester"] as? String)
                row["when"] = (entry["time_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                row["recordShort"] = String((entry["record"] as? String ?? "").prefix(12))
                row["denied"] = outcome == "deny"
                row["breakGlass"] = outcome == "break-glass" || entry["reason"] as? String == "break-glass"
                return row
            }
            var values = Portal.layout(backend, signedIn)
            values["patientAccessLog"] = true
            // Only the newest page follows new entries; an older page stays as it is.
            if before == nil { values["eventsFrom"] = eventsFrom } else { values["olderPage"] = true }
            values["older"] = log.older.map { String($0) }
            values["page"] = pageData(patient, backend)
            values["entries"] = entries
            values["hasEntries"] = !entries.isEmpty
            values["hasNotices"] = !notices.isEmpty
            values["entriesMax"] = PortalLimits.accessEntriesShown
            values["notices"] = notices.map { notice -> [String: Any] in
                var row = notice
                row["who"] = label(notice["requester"] as? String)
                row["until"] = (notice["expires_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
                return row
            }
            return PortalPages.html(PortalPages.render("access-log", values))
        }
    }

    /// A new patient's `membership.registerPatient`, signed in her browser. She has no identity yet,
    /// so no access token for `POST /v1/txs`: the sign-in form's session and CSRF token stand in for
    /// it, and only this one call (sequence 1) passes here, to the node's admission and the contract.
    static func register(_ request: Request, _ backend: PortalBackend) async throws -> Response {
        let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.formBytesMax)
        try Portal.checkForm(request, csrf: form["csrf"], session: SignInRoutes.pendingSession(request, backend), backend)
        guard let bytes = form["transaction"].flatMap(Base64.decode), bytes.count <= Limits.transactionBytesMax else {
            return Portal.json(["status": "refused", "message": "no signed transaction arrived"], status: .badRequest)
        }
        let transaction: Transaction
        do { transaction = try Transaction(decoding: bytes) } catch {
            return Portal.json(["status": "refused", "message": "the transaction is malformed: \(error)"], status: .badRequest)
        }
        guard transaction.body.contract == "membership", transaction.body.method == "registerPatient", transaction.body.sequence == 1 else {
            return Portal.json(["status": "refused", "message": "only a new patient's membership.registerPatient is taken here"], status: .forbidden)
        }
        let id: Hash256
        do { id = try await backend.node.submit(transaction) } catch {
            return Portal.json(["status": "refused", "message": error.description], status: .unprocessableContent)
        }
        do { _ = try await backend.node.awaitCommit(id, timeoutMs: 15_000) } catch {
            return Portal.json(["id": id.hex, "status": "pending", "message": "not committed within 15 s"], status: .accepted)
        }
        let result = try await backend.node.receipt(for: id).status.result
        return Portal.json(["id": id.hex, "status": "committed", "result": ["code": Int(result.code), "message": result.message]],
                           status: result.isAccepted ? .ok : .unprocessableContent)
    }

    /// The signed-in session, if its identity is a patient (else 403; not signed in: to sign-in).
    static func patientSession(_ request: Request, _ backend: PortalBackend) async throws -> ((session: PortalSession, identity: Identity), Identity) {
        guard let signedIn = await Portal.signedIn(request, backend) else {
            throw PortalRefusal(status: 401, message: "sign in with the key this browser holds")
        }
        guard signedIn.identity.kind == .patient else { throw PortalRefusal(status: 403, message: "these pages are a patient's own") }
        return (signedIn, signedIn.identity)
    }

    static func accessService(_ backend: PortalBackend) throws -> AccessService {
        guard let access = backend.access else { throw PortalRefusal(status: 503, message: "this node keeps no records or access log") }
        return access
    }

    static func serviceCall<T>(_ body: () throws(ServiceError) -> T) throws -> T {
        do { return try body() } catch { throw PortalRefusal(error) }
    }

    /// What the browser needs to sign the patient's next transaction, and to tell whether it holds
    /// her current key: the chain, her id, her registered keys and her next sequence number.
    static func pageData(_ patient: Identity, _ backend: PortalBackend) -> [String: Any] {
        ["chainId": backend.node.chainId, "id": patient.id.hex, "signingKey": Hex.encode(patient.signingKey.rawValue),
         "agreementKey": Hex.encode(patient.agreementKey), "keyVersion": patient.keyVersion,
         "nextSequence": BlockExecutor.lastSequence(of: patient.id, in: backend.node.state) + 1, "tokenURL": backend.tokens.tokenURL]
    }

    /// An amount in minor units (cents) with its currency code, e.g. "12.50 USD".
    static func money(_ minor: Int64?, _ currency: String) -> String {
        guard let minor else { return "" }
        let sign = minor < 0 ? "-" : "", magnitude = minor.magnitude
        let cents = String(magnitude % 100)
        return "\(sign)\(magnitude / 100).\(cents.count == 1 ? "0" + cents : cents) \(currency)"
    }

    /// An identity's on-chain label, else the start of its id.
    static func identityLabel(_ hex: String?, _ state: any StateReader) -> String {
        hex.flatMap(Hash256.init(hex:)).flatMap { Directory.identity($0, in: state) }
            .map { $0.label.isEmpty ? String($0.id.hex.prefix(12)) + "…" : $0.label } ?? String((hex ?? "").prefix(12)) + "…"
    }

    static func granteeText(_ grantee: JSONObject, _ state: any StateReader) -> String {
        switch grantee["kind"] as? String {
        case "role": return "anyone with the role \(grantee["role"] as? String ?? "?")"
        case let kind?:
            let id = grantee["id"] as? String ?? ""
            let label = Hash256(hex: id).flatMap { Directory.identity($0, in: state) }?.label ?? ""
            return "\(kind == "organization" ? "organization" : "person") \(label.isEmpty ? String(id.prefix(12)) + "…" : label)"
        case nil: return "?"
        }
    }

    static func categoryLabel(_ category: SensitivityCategory) -> String {
        switch category {
        case .general: "General records"
        case .mentalHealth: "Mental health"
        case .substanceUse: "Substance use"
        case .sexualReproductive: "Sexual and reproductive health"
        case .hiv: "HIV"
        case .genetic: "Genetic"
        }
    }

    static func purposeLabel(_ purpose: Purpose) -> String {
        switch purpose {
        case .treatment: "Treatment (TREAT)"
        case .emergencyTreatment: "Emergency treatment (ETREAT)"
        case .payment: "Payment (HPAYMT)"
        case .operations: "Healthcare operations (HOPERAT)"
        case .research: "Research (HRESCH)"
        case .publicHealth: "Public health (PUBHLTH)"
        }
    }
}
