import Contracts
import LedgerCore

/// Transaction builders and state readers shared by the consent, records and audit tests.
/// Names are distinct from the helpers other test files declare (`register`, `ConsentFixture`).
extension Harness {
    static var patientID: IdentityID { patient.derivedID }

    /// The ciphertext hash the tests register for one version of a record.
    static func ciphertext(_ record: Hash256, _ version: Int64) -> Hash256 {
        Hash256.sha256(record.bytes + [0xC7, UInt8(truncatingIfNeeded: version)])
    }

    /// The argument form of a grantee (its `Codable` form), for tests that send it raw.
    static func granteeArg(_ grantee: Grantee) -> CanonicalValue { try! CanonicalEncoder().encode(grantee) }

    /// records.register; `patient: nil` omits the patient (directory data), `agent` names the member an organization writes for.
    static func registration(_ record: Hash256, _ resourceType: String, _ category: SensitivityCategory, version: Int64 = 1,
                             patient: IdentityID? = Harness.patientID, agent: IdentityID? = nil) -> RecordsContract.Register {
        RecordsContract.Register(record: record, patient: patient, resourceType: resourceType, category: category,
                                 ciphertextHash: ciphertext(record, version), version: version, agent: agent)
    }

    /// records.register of one version; an unknown category (a test of its refusal) is sent raw.
    mutating func putRecord(_ record: Hash256, _ resourceType: String, _ category: String, by author: IdentityKeys,
                            version: Int64 = 1, patient: IdentityID? = Harness.patientID, agent: IdentityID? = nil) -> VerifiedTransaction {
        let parsed = SensitivityCategory(rawValue: category)
        return sign(author, Self.registration(record, resourceType, parsed ?? .general, version: version, patient: patient, agent: agent),
                    overriding: parsed == nil ? ["category": .string(category)] : [:])
    }

    /// records.erase.
    mutating func eraseRecord(_ record: Hash256, by keys: IdentityKeys) -> VerifiedTransaction {
        sign(keys, RecordsContract.Erase(record: record))
    }

    /// consent.grant with the given grantee argument (raw, so tests can send malformed ones).
    mutating func grantConsent(_ grantee: CanonicalValue, by signer: IdentityKeys = Harness.patient, patient: IdentityID = Harness.patientID,
                               purposes: [String] = ["TREAT"], actions: [String] = ["read"],
                               extra: CanonicalMap = [:]) -> VerifiedTransaction {
        var raw = extra
        raw["grantee"] = grantee
        return grantConsent(to: .role(.clinician), by: signer, patient: patient, purposes: purposes, actions: actions, extra: raw)
    }

    /// consent.grant to a typed grantee; unknown purposes or actions are sent raw, `extra` overrides raw arguments.
    mutating func grantConsent(to grantee: Grantee, by signer: IdentityKeys = Harness.patient, patient: IdentityID = Harness.patientID,
                               purposes: [String] = ["TREAT"], actions: [String] = ["read"],
                               extra: CanonicalMap = [:]) -> VerifiedTransaction {
        var raw: CanonicalMap = [:]
        let call = ConsentContract.Grant(patient: patient, grantee: grantee, purposes: Self.names(purposes, "purposes", into: &raw),
                                         actions: Self.names(actions, "actions", into: &raw))
        for (key, value) in extra { raw[key] = value }
        return sign(signer, call, overriding: raw)
    }

    /// consent.revoke.
    mutating func revokeConsent(_ consent: Hash256, by signer: IdentityKeys = Harness.patient,
                                patient: IdentityID = Harness.patientID) -> VerifiedTransaction {
        sign(signer, ConsentContract.Revoke(patient: patient, consent: consent))
    }

    /// consent.addDelegate, sent by the patient; an unknown relationship is sent raw.
    mutating func addDelegate(_ delegate: IdentityKeys, by patient: IdentityKeys = Harness.patient,
                              relationship: String = "guardian") -> VerifiedTransaction {
        let parsed = Delegate.Relationship(rawValue: relationship)
        return sign(patient, ConsentContract.AddDelegate(delegate: delegate.derivedID, relationship: parsed ?? .guardian),
                    overriding: parsed == nil ? ["relationship": .string(relationship)] : [:])
    }

    /// consent.breakGlass; an unknown reason is sent raw.
    mutating func breakGlass(by keys: IdentityKeys, record: Hash256?, reason: String = "unconscious", minutes: Int64 = 60,
                             patient: IdentityID = Harness.patientID) -> VerifiedTransaction {
        let parsed = BreakGlassReason(rawValue: reason)
        let call = ConsentContract.BreakGlass(patient: patient, record: record, reason: parsed ?? .other,
                                              justificationHash: Hash256.sha256(Array("sealed justification".utf8)), minutes: minutes)
        return sign(keys, call, overriding: parsed == nil ? ["reason": .string(reason)] : [:])
    }

    /// audit.anchor.
    mutating func auditAnchor(by keys: IdentityKeys, size: Int64) -> VerifiedTransaction {
        sign(keys, AuditContract.AnchorLog(size: size, root: Hash256.sha256([UInt8(truncatingIfNeeded: size)])))
    }

    /// membership.registerPatient (self-registration).
    mutating func registerPatient(_ keys: IdentityKeys) -> VerifiedTransaction {
        sign(keys, MembershipContract.RegisterPatient(agreementKey: keys.agreementPublicKey))
    }

    /// membership.revoke of a member by its organization.
    mutating func revokeMember(_ member: IdentityKeys, by organization: IdentityKeys) -> VerifiedTransaction {
        sign(organization, MembershipContract.Revoke(member: member.derivedID))
    }

    /// Runs one block whose transactions must all be accepted (fixture building); returns its height.
    @discardableResult
    mutating func runAccepted(_ txs: [VerifiedTransaction], _ what: String = "") -> UInt64 {
        let blockHeight = height
        let results = run(txs)
        let refused = zip(txs, results).filter { !$0.1.isAccepted }
            .map { "\($0.0.body.contract).\($0.0.body.method): \($0.1.code) \($0.1.message)" }
        precondition(refused.isEmpty, "\(what) refused: \(refused)")
        return blockHeight
    }

    /// Keys whose value differs between `before` and the current state (added, changed or removed).
    func changedKeys(since before: [String: [UInt8]]) -> Set<String> {
        var out = Set<String>()
        for (key, value) in state.values where before[key] != value { out.insert(key) }
        for key in before.keys where state.values[key] == nil { out.insert(key) }
        return out
    }

    /// The sequence key of a sender, as the executor writes it.
    static func sequenceKey(_ sender: IdentityID) -> String { "system/sequence/\(sender.hex)" }

    // MARK: consent index, read by its state-key layout (the helpers in ConsentIndex are internal)

    static func consentIndexKey(_ patient: IdentityID, _ grantee: Grantee) -> String {
        let fragment = switch grantee {
        case .member(let id): "m-\(id.hex)"
        case .organization(let id): "o-\(id.hex)"
        case .role(let role): "r-\(role.rawValue)"
        }
        return "consent/index/\(patient.hex)/\(fragment)"
    }

    static func consentCountKey(_ patient: IdentityID) -> String { "consent/count/\(patient.hex)" }

    /// The consent ids listed for a grantee, or nil when the index key is absent.
    func consentIndexList(_ grantee: Grantee, patient: IdentityID = Harness.patientID) -> [Hash256]? {
        guard let bytes = state.value(for: Self.consentIndexKey(patient, grantee)) else { return nil }
        guard let list = (try? CanonicalValue(decoding: bytes))?.listValue else { return [] }
        return list.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } }
    }

    /// The stored active-consent count, or nil when the key is absent.
    func consentCount(patient: IdentityID = Harness.patientID) -> Int64? {
        state.value(for: Self.consentCountKey(patient)).flatMap { try? CanonicalValue(decoding: $0) }?.intValue
    }
}
