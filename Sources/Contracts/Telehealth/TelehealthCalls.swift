public import LedgerCore

extension TelehealthContract {
    /// telehealth.open: a clinician opens a session with an active patient.
    public struct Open: ContractMethod, Equatable {
        public static let method = Method.open
        /// 32 random bytes chosen by the opening client (not all zeros).
        public var session: Hash256
        public var patient: IdentityID
        public var consentToRecord: Bool
        /// SHA-256 over the session key's HPKE-wrapped copies.
        public var keyCommitment: Hash256
        public var startMs: Int64

        public init(session: Hash256, patient: IdentityID, consentToRecord: Bool, keyCommitment: Hash256, startMs: Int64) {
            (self.session, self.patient, self.consentToRecord, self.keyCommitment, self.startMs) =
                (session, patient, consentToRecord, keyCommitment, startMs)
        }

        public func validate() throws(Rejection) {
            try Check.random(session, CodingKeys.session)
            try Check.timeMs(startMs, CodingKeys.startMs)
        }
    }

    /// telehealth.join: the session's patient (or their delegate) joins.
    public struct Join: ContractMethod, Equatable {
        public static let method = Method.join
        public var session: Hash256

        public init(session: Hash256) { self.session = session }
    }

    /// telehealth.end: a participant ends the session (the clinician records a no-show).
    public struct End: ContractMethod, Equatable {
        public static let method = Method.end
        public var session: Hash256
        /// All zeros without consent to record, or for a no-show.
        public var transcriptHash: Hash256
        public var messageCount: Int64
        public var endMs: Int64

        public init(session: Hash256, transcriptHash: Hash256, messageCount: Int64, endMs: Int64) {
            (self.session, self.transcriptHash, self.messageCount, self.endMs) = (session, transcriptHash, messageCount, endMs)
        }

        public func validate() throws(Rejection) {
            try Check.int(messageCount, CodingKeys.messageCount, in: 0...TelehealthContract.messageCountMax)
            try Check.timeMs(endMs, CodingKeys.endMs)
        }
    }

    /// The telehealth contract's methods.
    public enum Method: String, ContractMethods {
        case open, join, end
        public static let contract = "telehealth"
    }
}
