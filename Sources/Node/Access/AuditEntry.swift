public import Contracts
public import LedgerCore

/// One access decision as the custodian logs it before any data leaves: who asked for which
/// record of which patient, when, why, and what was decided. Ids and codes only; a break-glass
/// justification is kept sealed to the patient's key.
public struct AuditEntry: Sendable, Equatable {
    public var timeMs: Int64
    public var requester: IdentityID
    public var patient: IdentityID
    public var record: Hash256
    /// The record version released (0 when nothing was released).
    public var version: UInt64
    public var purpose: Purpose
    public var action: ConsentAction
    public var outcome: DecisionOutcome
    public var reason: DecisionReason
    public var consent: Hash256?
    /// The free-text break-glass justification, sealed to the patient (see `SealedNote`).
    public var sealedJustification: [UInt8]?

    /// The canonical bytes: the audit log's leaf input.
    public var encoded: [UInt8] {
        var map: CanonicalMap = [
            "v": .int(1), "timeMs": .int(timeMs), "requester": .bytes(requester.bytes), "patient": .bytes(patient.bytes),
            "record": .bytes(record.bytes), "version": .int(Int64(version)), "purpose": .string(purpose.rawValue),
            "action": .string(action.rawValue), "outcome": .string(outcome.rawValue), "reason": .string(reason.rawValue),
        ]
        if let consent { map["consent"] = .bytes(consent.bytes) }
        if let sealedJustification { map["justification"] = .bytes(sealedJustification) }
        return CanonicalValue.map(map).encoded
    }

}

extension AuditEntry {
    /// Decodes stored bytes; nil if they are not an audit entry.
    public init?(decoding bytes: [UInt8]) {
        guard let value = try? CanonicalValue(decoding: bytes), value["v"]?.intValue == 1,
              let time = value["timeMs"]?.intValue,
              let requester = value["requester"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let record = value["record"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let version = value["version"]?.intValue,
              let purpose = value["purpose"]?.stringValue.flatMap(Purpose.init(rawValue:)),
              let action = value["action"]?.stringValue.flatMap(ConsentAction.init(rawValue:)),
              let outcome = value["outcome"]?.stringValue.flatMap(DecisionOutcome.init(rawValue:)),
              let reason = value["reason"]?.stringValue.flatMap(DecisionReason.init(rawValue:))
        else { return nil }
        self.init(timeMs: time, requester: requester, patient: patient, record: record, version: UInt64(version), purpose: purpose,
                  action: action, outcome: outcome, reason: reason, consent: value["consent"]?.bytesValue.flatMap { Hash256(bytes: $0) },
                  sealedJustification: value["justification"]?.bytesValue)
    }
}
