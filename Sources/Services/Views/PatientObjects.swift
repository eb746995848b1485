public import Contracts
import Foundation
public import LedgerCore
public import Node

/// A patient's own ledger objects, listed: her claims, her prescriptions and her trial
/// participation (`GET /v1/patients/{id}/claims`, `…/prescriptions`, `…/trials`, and the portal's
/// patient pages). Lists are the patient's (or a delegate's): staff read these objects one by one
/// through the per-object reads. Each object shown is decided by the same `ReadRules` as its
/// per-object read and written to her access log in one durable batch before anything is shown
/// (security review finding 10), and is shown in the same JSON as its per-object read.
extension AccessService {
    /// Prescriptions are indexed by id only (no index by patient on the chain), so listing a
    /// patient's scans the prescriptions this node holds, at most this many; past it the answer
    /// says `complete: false`.
    public static let prescriptionsScannedMax = 20_000
    /// Trials examined for a patient's participation (the public registry, one key per trial).
    public static let trialsScannedMax = 10_000

    /// The patient's adjudicated claims, oldest first (at most `pageEntriesMax`).
    public func patientClaims(_ patient: IdentityID, as requester: Identity) async throws(ServiceError) -> JSONObject {
        let view = try await patientSideView(patient, requester, what: "claims")
        let prefix = ClaimsContract.patientClaimsPrefix(patient)
        let claims = try visible(prefix: prefix, limit: Self.pageEntriesMax).compactMap { row in
            Hash256(hex: String(row.key.dropFirst(prefix.count))).flatMap { ClaimsContract.claim($0, in: view.state) }
        }.filter { ReadRules.mayReadClaim($0, requester, view.state) }.sorted { ($0.height, $0.id) < ($1.height, $1.id) }
        try await logShown(claims.map { ObjectRead(requester: requester.id, patient: patient, object: $0.id, purpose: .payment, permitted: true) })
        return ["claims": claims.map { LedgerView.claimJSON($0, currency: view.currency(of: $0)) }]
    }

    /// The patient's prescriptions, newest first, with their status as of the head block.
    public func patientPrescriptions(_ patient: IdentityID, as requester: Identity) async throws(ServiceError) -> JSONObject {
        let view = try await patientSideView(patient, requester, what: "prescriptions")
        let prefix = PrescriptionContract.prescriptionPrefix
        var found: [PrescriptionView] = []
        var after: String?
        var scanned = 0
        while scanned < Self.prescriptionsScannedMax {
            let rows = try visible(prefix: prefix, after: after, limit: min(1_000, Self.prescriptionsScannedMax - scanned))
            scanned += rows.count
            for row in rows {
                guard let id = Hash256(hex: String(row.key.dropFirst(prefix.count))), let rx = PrescriptionContract.prescription(id, in: view.state),
                      rx.prescription.patient == patient, ReadRules.mayReadPrescription(rx.prescription, requester, view.state) else { continue }
                found.append(rx)
            }
            guard let last = rows.last, rows.count == 1_000 else { after = nil; break }
            after = last.key
        }
        found.sort { ($0.prescription.issuedHeight, $0.prescription.id) > ($1.prescription.issuedHeight, $1.prescription.id) }
        try await logShown(found.map { ObjectRead(requester: requester.id, patient: patient, object: $0.prescription.id, purpose: .treatment, permitted: true) })
        return ["prescriptions": found.map(view.prescriptionJSON), "complete": after == nil]
    }

    /// The trials the patient consented to (consented, enrolled or withdrawn), by trial id.
    public func patientTrials(_ patient: IdentityID, as requester: Identity) async throws(ServiceError) -> JSONObject {
        let view = try await patientSideView(patient, requester, what: "trial participation")
        let prefix = TrialIndex.trialPrefix
        let rows = try visible(prefix: prefix, limit: Self.trialsScannedMax)
        let shown: [(trial: Trial, participant: TrialParticipant)] = rows.compactMap { row in
            let id = String(row.key.dropFirst(prefix.count))
            guard let trial = TrialIndex.trial(id, in: view.state), let participant = TrialIndex.participant(trial: id, patient: patient, in: view.state),
                  ReadRules.mayReadParticipant(patient, of: trial, requester, view.state) else { return nil }
            return (trial, participant)
        }
        try await logShown(shown.map {
            ObjectRead(requester: requester.id, patient: patient, object: Hash256.sha256(Array($0.trial.id.utf8)), purpose: .research, permitted: true)
        })
        return ["trials": shown.map { item -> JSONObject in
            var out = LedgerView.participantJSON(item.participant, trial: item.trial.id)
            out["sponsor"] = item.trial.sponsor.hex
            out["current_consent_form_version"] = item.trial.versions.last.map { $0.consentFormVersion as Any } ?? NSNull()
            return out
        }, "complete": rows.count < Self.trialsScannedMax]
    }

    /// The view these lists read, once `requester` is the patient or a delegate (else forbidden).
    private func patientSideView(_ patient: IdentityID, _ requester: Identity, what: String) async throws(ServiceError) -> LedgerView {
        guard ReadRules.isPatientSide(patient, requester, node.state) else {
            throw .forbidden("only the patient or a delegate lists the patient's \(what); their parties read each one by its id")
        }
        return await LedgerView.of(node, audit: self)
    }

    /// Rows this node can show (shared state and the private collections it holds).
    private func visible(prefix: String, after: String? = nil, limit: Int) throws(ServiceError) -> [(key: String, value: [UInt8])] {
        do { return try node.visibleStates(prefix: prefix, after: after, limit: limit) } catch {
            throw ServiceError(.unavailable, "the ledger store cannot be read: \(error)")
        }
    }

    /// Logs what is about to be shown, durably, before it is (one batch).
    private func logShown(_ reads: [ObjectRead]) async throws(ServiceError) {
        do { try await logObjectReads(reads) } catch { throw ServiceError(.unavailable, "the access decision cannot be logged: \(error)") }
    }
}
