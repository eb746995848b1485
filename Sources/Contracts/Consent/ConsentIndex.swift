public import LedgerCore

/// Where consent state lives, and reads of it. A decision reads a bounded number of keys: the
/// index lists of the requester, their organization and each of their roles, each holding at
/// most `ConsentContract.perGranteeMax` active consent ids — so its cost does not grow with the
/// number of consents on the chain.
public enum ConsentIndex {
    static func grantKey(_ patient: IdentityID, _ consent: Hash256) -> String { "consent/grant/\(patient.hex)/\(consent.hex)" }
    static func indexKey(_ patient: IdentityID, _ grantee: Grantee) -> String { "consent/index/\(patient.hex)/\(grantee.indexFragment)" }
    static func countKey(_ patient: IdentityID) -> String { "consent/count/\(patient.hex)" }
    static func delegatesKey(_ patient: IdentityID) -> String { "consent/delegates/\(patient.hex)" }
    static func breakGlassKey(_ patient: IdentityID, _ requester: IdentityID) -> String {
        "consent/break-glass/\(patient.hex)/\(requester.hex)"
    }
    static func noticeKey(_ patient: IdentityID, _ transaction: Hash256) -> String { "consent/notice/\(patient.hex)/\(transaction.hex)" }

    /// State-key prefix of all consents a patient ever granted (active and revoked).
    public static func grantPrefix(_ patient: IdentityID) -> String { "consent/grant/\(patient.hex)/" }
    /// State-key prefix of a patient's notifications (break-glass accesses).
    public static func noticePrefix(_ patient: IdentityID) -> String { "consent/notice/\(patient.hex)/" }

    /// A consent by patient and id.
    public static func consent(_ id: Hash256, patient: IdentityID, in reader: any StateReader) -> ConsentEntry? {
        reader.decoded(grantKey(patient, id)) { decodeConsent(id, $0) }
    }

    /// Decodes a stored consent value.
    public static func decodeConsent(_ id: Hash256, _ bytes: [UInt8]?) -> ConsentEntry? {
        ConsentEntry.decode(bytes) { $0.id = id }
    }

    /// Ids of the active consents a patient gave one grantee.
    static func activeIDs(_ patient: IdentityID, _ grantee: Grantee, in reader: any StateReader) -> [Hash256] {
        reader.decoded(indexKey(patient, grantee)) { bytes in
            (try? CanonicalValue(decoding: bytes))?.listValue?.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } }
        } ?? []
    }

    /// Number of active consents of a patient.
    static func activeCount(_ patient: IdentityID, in reader: any StateReader) -> Int {
        reader.value(for: countKey(patient)).flatMap { try? CanonicalValue(decoding: $0) }?.intValue.map { Int($0) } ?? 0
    }

    /// The patient's delegates.
    public static func delegates(of patient: IdentityID, in reader: any StateReader) -> [Delegate] {
        reader.decoded(delegatesKey(patient), [Delegate].decode) ?? []
    }

    /// Whether `id` speaks for `patient`: the patient themself, or an active delegate they named.
    /// The one definition of "patient side" for contracts (erasing a record, joining and ending a
    /// telehealth session) and for the API's read authorization.
    public static func isPatientSide(_ id: IdentityID, of patient: IdentityID, in reader: any StateReader) -> Bool {
        id == patient || isDelegate(id, of: patient, in: reader)
    }

    /// True if `id` is an active identity registered as the patient's delegate.
    public static func isDelegate(_ id: IdentityID, of patient: IdentityID, in reader: any StateReader) -> Bool {
        guard delegates(of: patient, in: reader).contains(where: { $0.id == id }) else { return false }
        return Directory.identity(id, in: reader).map { !$0.revoked } ?? false
    }

    /// The break-glass grant a requester holds for a patient, expired or not.
    public static func breakGlass(patient: IdentityID, requester: IdentityID, in reader: any StateReader) -> BreakGlassGrant? {
        reader.value(for: breakGlassKey(patient, requester)).flatMap(BreakGlassGrant.decode)
    }

    /// Decodes a stored notification (a break-glass grant the patient has been told about).
    public static func decodeNotice(_ bytes: [UInt8]) -> BreakGlassGrant? {
        BreakGlassGrant.decode(bytes)
    }
}

extension StateView: StateReader {
    /// The latest value visible to the current transaction.
    public func value(for key: String) -> [UInt8]? { get(key) }
}
