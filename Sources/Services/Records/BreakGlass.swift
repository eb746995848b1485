public import Contracts
import Foundation
public import LedgerCore
public import Node

/// Break-glass as every adapter asks for it (the CLI's `careledger break-glass`, the portal's
/// clinician pages): what the emergency clinician says, checked once here.
public struct BreakGlassRequest: Sendable {
    /// The patient whose records are opened.
    public let patient: IdentityID
    /// Limits the grant to one record when set; nil opens every record of the patient.
    public let scope: Hash256?
    /// The record read first, under the grant: its audit entry carries the sealed justification.
    public let firstRead: Hash256
    public let reason: BreakGlassReason
    /// Free text, sealed to the patient (only she reads it); its hash goes on-chain.
    public let justification: String
    public let minutes: Int

    /// Longest justification, in UTF-8 bytes (what a sealed note holds).
    public static var justificationBytesMax: Int { SealedNote.textBytesMax }

    public init(patient: IdentityID, scope: Hash256?, firstRead: Hash256, reason: BreakGlassReason, justification: String, minutes: Int) {
        (self.patient, self.scope, self.firstRead, self.reason, self.justification, self.minutes) =
            (patient, scope, firstRead, reason, justification, minutes)
    }

    /// The request's own checks (the contract checks the rest: role, organization type, patient, record).
    public func check() throws(ServiceError) {
        guard !justification.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ServiceError("a break-glass access needs a justification: say why this is an emergency") }
        guard justification.utf8.count <= Self.justificationBytesMax else {
            throw ServiceError("the justification is longer than \(Self.justificationBytesMax) bytes")
        }
        guard (1...Int(ConsentContract.breakGlassMinutesMax)).contains(minutes) else {
            throw ServiceError("break-glass access lasts 1…\(ConsentContract.breakGlassMinutesMax) minutes")
        }
    }
}

extension LedgerClient {
    /// Break-glass: seals the justification to the patient, commits `consent.breakGlass` signed by
    /// the requester (on-chain: the patient gets a notice, the access is flagged), then reads
    /// `firstRead` with purpose ETREAT; that read's durable audit entry carries the sealed
    /// justification. `sender` is the requester's identity when it rotated its key.
    public func breakGlass(_ request: BreakGlassRequest, as requester: IdentityKeys, sender: IdentityID? = nil,
                           access: AccessService) async throws -> RecordRelease {
        try request.check()
        guard let patient = Directory.identity(request.patient, in: node.state), patient.kind == .patient else {
            throw ServiceError.notFound("no patient \(request.patient.hex)")
        }
        let sealed = try SealedNote.seal(request.justification, to: patient.id, agreementKey: patient.agreementKey)
        let requesterID = sender ?? requester.derivedID
        try await commit(UnsignedCall(requester, sender: requesterID, call: ConsentContract.BreakGlass(
            patient: patient.id, record: request.scope, reason: request.reason, justificationHash: Hash256.sha256(sealed),
            minutes: Int64(request.minutes))))
        return try await access.read(AccessRequest(requester: requesterID, record: request.firstRead, purpose: .emergencyTreatment, action: .read),
                                     sealedJustification: sealed)
    }
}
