public import Contracts
public import FHIR
import Foundation
public import LedgerCore
import Node
import Storage

/// FHIR Claim ↔ the claims contract. `Claim/$submit` adjudicates on-chain at once and answers
/// with the ClaimResponse; a plain create of a Claim only stores it as a record. Ledger claims
/// read back as `ClaimResponse/ledger-<first 56 hex of the claim id>`, for the patient (and
/// delegates), the billing provider's staff and the payer's staff.
extension FHIRService {
    /// Adjudicates a Claim (given bare, as Parameters.parameter[resource], or first in a Bundle):
    /// signs `claims.submit` as the requester's organization, waits for the block, stores the
    /// Claim as an encrypted record, and returns the ClaimResponse.
    public func submitClaim(_ body: [String: Any], requester: Identity) async throws(FHIRError) -> [String: Any] {
        let claim = try Self.claimResource(body)
        let custodian = try custodian(for: requester)
        let submission = try ClaimMapping.submission(claim, provider: custodian.derivedID) { recordID(type: $0, id: $1) }
        let patient = try ledgerPatient(submission.patientID)
        if ClaimsContract.claim(submission.claimID, in: state) != nil {
            throw .conflict("this Claim was already submitted; its response is ClaimResponse/\(ClaimMapping.responseID(submission.claimID))")
        }
        guard let organizations = ClaimsContract.claimOrganizations(provider: custodian.derivedID, plan: submission.plan, in: state) else {
            throw .unprocessable("no plan \(submission.plan) on this ledger", at: "Claim.insurance.coverage")
        }
        _ = try await submitAndAwait([client.call(custodian, privateOnConsortium: submission.call(patient: patient), for: organizations)])
        guard let entry = ClaimsContract.claim(submission.claimID, in: state) else {
            throw FHIRError(500, "exception", "the adjudicated claim is not in state")
        }
        // The Claim itself becomes a record of the provider, readable by consent like any other.
        var stored = claim
        stored["id"] = nil
        _ = try await create(stored, type: "Claim", requester: requester)
        return claimResponse(entry, patientID: submission.patientID)
    }

    /// `careledger claims submit`: adjudicates a FHIR Claim signed by `signer` (a provider
    /// organization or its staff: the organization is the provider) for `patient` (default: the
    /// ledger patient of the Claim's Patient reference) under `plan` and `memberID` (default: the Claim's).
    public func submitClaim(_ claim: [String: Any], signer: IdentityKeys, patient: IdentityID?, plan: String?,
                            memberID: Hash256? = nil) async throws -> ClaimEntry {
        guard let identity = Directory.identity(signer.derivedID, in: state) else { throw ServiceError.notFound("the signer is not registered") }
        let provider = identity.kind == .organization ? identity.id : (identity.organization ?? identity.id)
        let submission = try ClaimMapping.submission(claim, provider: provider, plan: plan, memberID: memberID) { recordID(type: $0, id: $1) }
        guard let patient = patient ?? recordIDs.ledgerPatient(submission.patientID, in: state) else {
            throw ServiceError("Patient/\(submission.patientID) is not on this ledger; name the patient with --patient")
        }
        guard let organizations = ClaimsContract.claimOrganizations(provider: provider, plan: submission.plan, in: state) else {
            throw ServiceError.notFound("no plan \(submission.plan) on this ledger")
        }
        try await client.commit([client.call(signer, privateOnConsortium: submission.call(patient: patient), for: organizations)])
        guard let entry = ClaimsContract.claim(submission.claimID, in: state) else { throw ServiceError(.unavailable, "the adjudicated claim is not in state") }
        return entry
    }

    /// One ledger ClaimResponse, for the parties of the claim.
    public func ledgerClaimResponse(id: String, requester: Identity) async throws(FHIRError) -> [String: Any] {
        let hex = String(id.dropFirst(ClaimMapping.responsePrefix.count))
        guard hex.count == 56, hex.allSatisfy(\.isHexDigit) else { throw .notFound("ClaimResponse/\(id)") }
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.visibleStates(prefix: "claims/claim/" + hex, after: nil, limit: 2) } catch {
            throw FHIRError(500, "exception", "\(error)")
        }
        guard rows.count == 1, let claimID = Hash256(hex: String(rows[0].key.dropFirst("claims/claim/".count))),
              let entry = ClaimsContract.claim(claimID, in: state) else { throw .notFound("ClaimResponse/\(id)") }
        try await logObjectReads([ObjectRead(requester: requester.id, patient: entry.patient, object: entry.id, purpose: .payment,
                                             permitted: mayRead(entry, requester))],
                                 refusal: "only the patient, the billing provider and the payer read this claim")
        return claimResponse(entry, patientID: nil)
    }

    /// The patient's adjudicated claims the requester may see, newest last; each one shown is a
    /// decision in the patient's access log.
    public func ledgerClaimResponses(patientID: String, requester: Identity) async throws(FHIRError) -> [[String: Any]] {
        let patient = try ledgerPatient(patientID)
        let prefix = ClaimsContract.patientClaimsPrefix(patient)
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.visibleStates(prefix: prefix, after: nil, limit: 1_000) } catch { throw FHIRError(500, "exception", "\(error)") }
        let shown = rows.compactMap { row in
            Hash256(hex: String(row.key.dropFirst(prefix.count))).flatMap { ClaimsContract.claim($0, in: state) }
                .flatMap { mayRead($0, requester) ? $0 : nil }
        }
        try await logObjectReads(shown.map { ObjectRead(requester: requester.id, patient: $0.patient, object: $0.id, purpose: .payment, permitted: true) },
                                 refusal: "")
        return shown.map { claimResponse($0, patientID: patientID) }
            .sorted { ($0["created"] as? String ?? "") < ($1["created"] as? String ?? "") }
    }

    /// Logs decisions about ledger objects (`AccessService.logObjectReads`) before anything is
    /// shown; the first refused one is 403 with `refusal`.
    func logObjectReads(_ reads: [ObjectRead], refusal: String) async throws(FHIRError) {
        do { try await access.logObjectReads(reads) } catch {
            throw FHIRError(503, "transient", "the access decision cannot be logged, so nothing is shown: \(error)")
        }
        if reads.contains(where: { !$0.permitted }) { throw .forbidden(refusal) }
    }

    public func mayRead(_ claim: ClaimEntry, _ requester: Identity) -> Bool { ReadRules.mayReadClaim(claim, requester, state) }

    public func claimResponse(_ entry: ClaimEntry, patientID: String?) -> [String: Any] {
        let plan = ClaimsContract.plan(entry.plan, in: state)
        return ClaimMapping.claimResponse(entry, currency: plan?.currency ?? "USD", payer: plan?.payer, patientID: patientID)
    }

    /// The Claim inside a $submit body.
    public static func claimResource(_ body: [String: Any]) throws(FHIRError) -> [String: Any] {
        switch body["resourceType"] as? String {
        case "Claim": return body
        case "Parameters":
            let parameters = body["parameter"] as? [[String: Any]] ?? []
            guard let resource = parameters.first(where: { $0["name"] as? String == "resource" })?["resource"] as? [String: Any],
                  resource["resourceType"] as? String == "Claim" else {
                throw .invalid("Parameters for $submit carry the Claim in parameter “resource”")
            }
            return resource
        case "Bundle":
            guard let first = (body["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any],
                  first["resourceType"] as? String == "Claim" else { throw .invalid("a Bundle for $submit starts with the Claim") }
            return first
        default:
            throw .invalid("$submit takes a Claim (bare, in Parameters, or first in a Bundle)")
        }
    }
}

/// Read-only FHIR views of the other contracts' objects (see `LedgerResources`).
extension FHIRService {
    /// `ResearchStudy/ledger-<trial id>` (any identity: the registry is public),
    /// `MedicationRequest/ledger-<56 hex>` (patient, prescriber's organization, pharmacists),
    /// `MedicationDispense/ledger-<48 hex>-<fill>` (as the prescription), `Encounter/ledger-<56 hex>`
    /// (the telehealth session's participants).
    public func ledgerResource(type: String, id: String, requester: Identity) async throws(FHIRError) -> [String: Any] {
        let key = String(id.dropFirst(LedgerResources.prefix.count))
        switch type {
        case "ResearchStudy":
            guard let trial = TrialIndex.trial(key, in: state) else { throw .notFound("ResearchStudy/\(id)") }
            return LedgerResources.researchStudy(trial, results: TrialIndex.results(trial: key, in: state))
        case "MedicationRequest":
            let full = try fullID(key, prefix: PrescriptionContract.prescriptionPrefix, what: "MedicationRequest/\(id)")
            guard let view = PrescriptionContract.prescription(full, in: state) else { throw .notFound("MedicationRequest/\(id)") }
            try await logObjectReads([ObjectRead(requester: requester.id, patient: view.prescription.patient, object: full, purpose: .treatment,
                                                 permitted: ReadRules.mayReadPrescription(view.prescription, requester, state))],
                                     refusal: "only the patient, the prescriber's organization and pharmacists read a prescription")
            return LedgerResources.medicationRequest(view, label: SupplyChainContract.product(view.prescription.gtin, in: state)?.label)
        case "MedicationDispense":
            let parts = key.split(separator: "-")
            guard parts.count == 2, let number = Int64(parts[1]) else { throw .notFound("MedicationDispense/\(id)") }
            let full = try fullID(String(parts[0]), prefix: PrescriptionContract.prescriptionPrefix, what: "MedicationDispense/\(id)", hexDigits: 48)
            guard let view = PrescriptionContract.prescription(full, in: state), let fill = view.fills.first(where: { $0.number == number }) else {
                throw .notFound("MedicationDispense/\(id)")
            }
            try await logObjectReads([ObjectRead(requester: requester.id, patient: view.prescription.patient, object: full, purpose: .treatment,
                                                 permitted: ReadRules.mayReadPrescription(view.prescription, requester, state))],
                                     refusal: "only the patient, the prescriber's organization and pharmacists read a dispense")
            return LedgerResources.medicationDispense(view, fill: fill, label: SupplyChainContract.product(view.prescription.gtin, in: state)?.label)
        case "Encounter":
            let full = try fullID(key, prefix: TelehealthContract.sessionPrefix, what: "Encounter/\(id)")
            guard let session = TelehealthContract.session(full, in: state) else { throw .notFound("Encounter/\(id)") }
            try await logObjectReads([ObjectRead(requester: requester.id, patient: session.patient, object: full, purpose: .treatment,
                                                 permitted: ReadRules.isSessionParticipant(session, requester, state))],
                                     refusal: "only the session's participants read it")
            return LedgerResources.encounter(session)
        default:
            throw .notFound("\(type)/\(id)")
        }
    }

    /// The 64-hex id whose state key starts with `prefix` + the 56 hex digits of a FHIR id.
    private func fullID(_ hex56: String, prefix: String, what: String, hexDigits: Int = 56) throws(FHIRError) -> Hash256 {
        guard hex56.count == hexDigits, hex56.allSatisfy(\.isHexDigit) else { throw .notFound(what) }
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.visibleStates(prefix: prefix + hex56, after: nil, limit: 2) } catch { throw FHIRError(500, "exception", "\(error)") }
        guard rows.count == 1, let id = Hash256(hex: String(rows[0].key.dropFirst(prefix.count).prefix(64))) else { throw .notFound(what) }
        return id
    }
}
