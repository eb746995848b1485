public import LedgerCore

/// A telehealth session as the chain records it: who met whom, when, whether it could be
/// recorded, which session key both sides received (by commitment), and how it ended. No PHI:
/// the transcript itself stays with the parties, encrypted; the chain holds only its hash.
public struct TelehealthSession: Sendable, Equatable, StoredValue {
    /// Where a session stands.
    public enum Status: String, Sendable, CaseIterable, Codable {
        /// Opened by the clinician; the patient has not joined.
        case opened
        /// Joined by the patient.
        case active
        /// Ended by a participant after the patient joined.
        case ended
        /// Ended by the clinician without the patient ever joining.
        case noShow = "no-show"

        /// True once the session has ended either way.
        public var isFinal: Bool { self == .ended || self == .noShow }
    }

    /// 32 random bytes chosen by the opening client (from the state key).
    public var id: Hash256 = .zero
    public var clinician: IdentityID
    public var clinicianOrganization: IdentityID
    public var patient: IdentityID
    /// Whether the patient agreed that a transcript be kept; if not, the transcript hash is all zeros.
    public var consentToRecord: Bool
    /// SHA-256 over the session key's HPKE-wrapped copies (see Vault's `SessionCipher.keyCommitment`).
    public var keyCommitment: Hash256
    public var startMs: Int64
    public var status: Status = .opened
    public var openedHeight: UInt64
    public var joinedBy: IdentityID?
    public var joinedHeight: UInt64?
    public var endedBy: IdentityID?
    public var endedHeight: UInt64?
    public var endMs: Int64?
    public var transcriptHash: Hash256?
    public var messageCount: Int64?

    enum CodingKeys: String, CodingKey {
        case clinician, clinicianOrganization = "organization", patient, consentToRecord, keyCommitment, startMs, status, openedHeight
        case joinedBy, joinedHeight, endedBy, endedHeight, endMs, transcriptHash, messageCount
    }
}

/// Telehealth sessions: a clinician opens a session with a registered patient, committing to the
/// session key both received; the patient (or a delegate) joins; either side ends it with the
/// transcript hash and message count, or the clinician records a no-show. Without consent to
/// record, no transcript is kept: its hash must be all zeros.
public struct TelehealthContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// How far past the block time a session may be declared to start (or end), in ms: 5 minutes.
    public static let clockSkewMsMax: Int64 = 5 * 60_000
    /// How long before the block time a session may be declared to have started, in ms: 24 hours.
    public static let startPastMsMax: Int64 = 24 * 3_600_000
    /// Most messages a session reports.
    public static let messageCountMax: Int64 = 1_000_000

    /// On a consortium a session is private to the clinician's organization (the patient reads it
    /// through that organization's node): all three methods are endorsed calls, with no shared writes.
    public var endorsedMethods: Set<String> { methods }
    public var privateKeyPrefixes: [String] { ["telehealth/"] }

    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        switch try Method.of(call) {
        case .open:
            guard let organization = Directory.identity(call.sender, in: state)?.organization else {
                throw Rejection(.sessionNeedsClinician, "only an active clinician opens a telehealth session")
            }
            return [organization]
        case .join: return [try Self.existing(try Join(call).session, state).clinicianOrganization]
        case .end: return [try Self.existing(try End(call).session, state).clinicianOrganization]
        }
    }

    public init() {}

    /// State-key prefix of sessions (entries end in the session id).
    public static let sessionPrefix = "telehealth/session/"
    static func key(_ session: Hash256) -> String { sessionPrefix + session.hex }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        let session: Hash256
        switch Method(rawValue: transaction.body.method) {
        case .open: guard let args = Open(transaction) else { return [] }; session = args.session
        case .join: guard let args = Join(transaction) else { return [] }; session = args.session
        case .end: guard let args = End(transaction) else { return [] }; session = args.session
        case nil: return []
        }
        return [Self.key(session)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .open: try open(call, try Open(call), &state)
        case .join: try join(call, try Join(call), &state)
        case .end: try end(call, try End(call), &state)
        }
    }

    /// A clinician opens a session with an active patient.
    private func open(_ call: ContractCall, _ args: Open, _ state: inout StateView) throws(Rejection) {
        let (id, patient, consentToRecord, keyCommitment, startMs) = (args.session, args.patient, args.consentToRecord, args.keyCommitment,
                                                                      args.startMs)
        let clinician = try Directory.activeSender(call, in: state)
        guard clinician.kind == .member, Directory.effectiveRoles(of: clinician, in: state).contains(.clinician),
              let organization = clinician.organization,
              let org = Directory.identity(organization, in: state), org.kind == .organization, !org.revoked else {
            throw Rejection(.sessionNeedsClinician, "only an active clinician opens a telehealth session")
        }
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient, !identity.revoked else {
            throw Rejection(.sessionPatientUnknown, "no active patient \(patient.hex)")
        }
        guard startMs <= call.timeMs + Self.clockSkewMsMax, startMs >= call.timeMs - Self.startPastMsMax else {
            throw Rejection(.badSessionTime, "a session starts within 24 hours before and 5 minutes after the block time \(call.timeMs)")
        }
        guard state.get(Self.key(id)) == nil else { throw Rejection(.sessionAlreadyExists, "session \(id.hex) already exists") }
        let session = TelehealthSession(id: id, clinician: clinician.id, clinicianOrganization: organization, patient: patient,
                                        consentToRecord: consentToRecord, keyCommitment: keyCommitment, startMs: startMs,
                                        openedHeight: call.height)
        try state.set(Self.key(id), session)
    }

    /// The session's patient (or their delegate) joins.
    private func join(_ call: ContractCall, _ args: Join, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        var session = try Self.existing(args.session, state)
        guard ConsentIndex.isPatientSide(sender.id, of: session.patient, in: state) else {
            throw Rejection(.notSessionPatient, "only patient \(session.patient.hex) or their delegate joins session \(session.id.hex)")
        }
        switch session.status {
        case .opened: break
        case .active: throw Rejection(.sessionAlreadyJoined, "session \(session.id.hex) was already joined")
        case .ended, .noShow: throw Rejection(.sessionAlreadyEnded, "session \(session.id.hex) has ended")
        }
        session.status = .active
        session.joinedBy = sender.id
        session.joinedHeight = call.height
        try state.set(Self.key(session.id), session)
    }

    /// A participant ends the session; the clinician ends a session never joined as a no-show.
    private func end(_ call: ContractCall, _ args: End, _ state: inout StateView) throws(Rejection) {
        let (transcriptHash, messageCount, endMs) = (args.transcriptHash, args.messageCount, args.endMs)
        let sender = try Directory.activeSender(call, in: state)
        var session = try Self.existing(args.session, state)
        let isClinician = sender.id == session.clinician
        guard isClinician || ConsentIndex.isPatientSide(sender.id, of: session.patient, in: state) else {
            throw Rejection(.notSessionParticipant, "\(sender.id.hex) is not a participant of session \(session.id.hex)")
        }
        guard !session.status.isFinal else { throw Rejection(.sessionAlreadyEnded, "session \(session.id.hex) has already ended") }
        if session.status == .opened {
            guard isClinician else {
                throw Rejection(.sessionNotJoined, "session \(session.id.hex) was never joined; only its clinician ends it, as a no-show")
            }
            guard messageCount == 0, transcriptHash == .zero else {
                throw Rejection(.noShowWithMessages, "a no-show of session \(session.id.hex) has no messages and an all-zero transcript hash")
            }
        }
        guard session.consentToRecord || transcriptHash == .zero else {
            throw Rejection(.transcriptWithoutConsent, "session \(session.id.hex) has no consent to record; its transcript hash must be all zeros")
        }
        guard endMs >= session.startMs, endMs <= call.timeMs + Self.clockSkewMsMax else {
            throw Rejection(.badSessionTime, "a session ends after its start \(session.startMs) and by 5 minutes after the block time")
        }
        session.status = session.status == .opened ? .noShow : .ended
        session.endedBy = sender.id
        session.endedHeight = call.height
        session.endMs = endMs
        session.transcriptHash = transcriptHash
        session.messageCount = messageCount
        try state.set(Self.key(session.id), session)
    }

    /// A session by id, or nil.
    public static func session(_ id: Hash256, in reader: any StateReader) -> TelehealthSession? {
        TelehealthSession.decode(reader.value(for: key(id))) { $0.id = id }
    }

    private static func existing(_ id: Hash256, _ state: StateView) throws(Rejection) -> TelehealthSession {
        guard let session = session(id, in: state) else { throw Rejection(.unknownSession, "no session \(id.hex)") }
        return session
    }
}
