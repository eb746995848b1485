public import LedgerCore

/// Records: the on-chain index of encrypted health records. A member of the custodian
/// organization registers a record; new versions supersede old ones while every version stays
/// readable in history; the patient, a delegate or the custodian erases a record (the node then
/// destroys the blob and its wrapped keys, the chain keeps the hashes and the fact of erasure).
public struct RecordsContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names
    /// Most registrations in one `registerMany` (they are applied all or none).
    public static let registrationsPerTransactionMax = 200

    /// Roles that may author records (besides the organization's own key).
    public static let authorRoles: Set<Role> = [.clinician, .emergencyClinician, .nurse, .pharmacist, .integration]
    /// Longest FHIR resource type name.
    public static let resourceTypeBytesMax = 64
    /// Highest version number of one record.
    public static let versionMax: Int64 = 1_000_000
    /// FHIR resource types that are directory or knowledge data, not any patient's health data:
    /// registered without a patient and readable by every active identity.
    public static let directoryResourceTypes: Set<String> = [
        "Organization", "OrganizationAffiliation", "Practitioner", "PractitionerRole", "Location", "HealthcareService", "Endpoint",
        "Medication", "MedicationKnowledge", "Substance", "InsurancePlan", "ValueSet", "CodeSystem", "ConceptMap", "Questionnaire",
        "PlanDefinition", "ActivityDefinition", "Library", "Measure", "ResearchStudy", "StructureDefinition", "SearchParameter",
    ]

    public init() {}

    // MARK: private labels (a consortium node registers records privately)

    /// On a consortium a record's category and carried labels go to its custodian's collection
    /// only (the patient reads through the custodian's node); the entry every node holds keeps the
    /// record id, patient pseudonym, resource type, custodian, author, ciphertext hash and version.
    public var endorsedMethods: Set<String> { [Method.register.rawValue, Method.registerMany.rawValue, Method.releaseLabel.rawValue] }
    public var privateKeyPrefixes: [String] { [RecordIndex.labelPrefix] }

    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        switch try Method.of(call) {
        case .register: return [try Self.custodian(of: try Register(call), call, state)]
        case .registerMany:
            var custodians = Set<IdentityID>()
            for entry in try RegisterMany(call).entries { custodians.insert(try Self.custodian(of: entry, call, state)) }
            return custodians
        case .releaseLabel:
            guard let entry = RecordIndex.current(try ReleaseLabel(call).record, in: state) else { throw Rejection(.unknownRecord, "no such record") }
            return [entry.custodian]
        case .erase: throw Rejection(.unknownMethod, "records.erase has no private form")
        }
    }

    /// The custodian a registration is for: the record's, or the author's organization for a new one.
    private static func custodian(of args: Register, _ call: ContractCall, _ state: StateView) throws(Rejection) -> IdentityID {
        if let existing = RecordIndex.current(args.record, in: state) { return existing.custodian }
        return try organization(of: try agent(args, signer: try Directory.activeSender(call, in: state), state), in: state)
    }

    /// Every node: the shared writes of a private registration are the entries a registration by
    /// the custodian's own staff gives, with the labels left out — the next version of a record
    /// the signer's organization holds (or a new one of it), its patient and type unchanged, at the
    /// proposal's height and time — and nothing else. The custodian's node vouches for the labels.
    public func checkSharedWrites(_ call: ContractCall, _ writes: [Proposal.Write], state: StateView) throws(Rejection) {
        guard [Method.register, .registerMany].contains(Method(rawValue: call.method)) else {
            guard writes.isEmpty else { throw Rejection(.badEndorsement, "records.\(call.method) makes no shared writes privately") }
            return
        }
        let signer = try Directory.activeSender(call, in: state)
        let organization = signer.kind == .organization ? signer.id : try Self.organization(of: signer, in: state)
        let given = Dictionary(writes.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        var expected: [String: [UInt8]?] = [:]
        // Each record's current entry, then every version from the committed one's next to it (a
        // `registerMany` may hold several versions of one record), each a valid private entry.
        for write in writes where write.key.hasPrefix(RecordIndex.currentPrefix) {
            guard let id = Hash256(hex: String(write.key.dropFirst(RecordIndex.currentPrefix.count))), write.key == RecordIndex.currentKey(id),
                  let last = write.value.flatMap({ RecordEntry.decode($0, key: { $0.record = id }) }) else {
                throw Rejection(.badEndorsement, "\(write.key) is not a record entry")
            }
            let existing = RecordIndex.current(id, in: state)
            let first = (existing?.version ?? 0) + 1
            guard last.version >= first, last.version - first < UInt64(Self.registrationsPerTransactionMax) else {
                throw Rejection(.badEndorsement, "record \(id.hex): not the next version of a record \(organization.hex) registers for itself")
            }
            expected[write.key] = write.value
            for version in first...last.version {
                let key = RecordIndex.versionKey(id, version)
                guard let bytes = given[key] ?? nil, let entry = RecordEntry.decode(bytes, key: { $0.record = id }), entry.version == version,
                      version < last.version || bytes == write.value,
                      Self.isPrivateRegistration(entry, of: existing, by: signer, organization: organization, call, state) else {
                    throw Rejection(.badEndorsement, "record \(id.hex): version \(version) is not the next version of a record \(organization.hex) registers for itself")
                }
                expected[key] = bytes
            }
            if existing == nil, last.patient != RecordEntry.noPatient {
                expected[RecordIndex.patientKey(last.patient, id)] = CanonicalValue.null.encoded
            }
        }
        guard !expected.isEmpty, given.count == writes.count, given.count == expected.count, given.allSatisfy({ expected[$0.key] == $0.value }) else {
            throw Rejection(.badEndorsement, "a private registration writes each record's entry, its versions and a new record's patient index, nothing else")
        }
    }

    /// A version a private registration may share: its labels left out, by the record's custodian
    /// (the signer's organization) or its staff author, the record's patient and type unchanged.
    private static func isPrivateRegistration(_ entry: RecordEntry, of existing: RecordEntry?, by signer: Identity, organization: IdentityID,
                                              _ call: ContractCall, _ state: StateView) -> Bool {
        let author = Directory.identity(entry.author, in: state)
        let authorIsStaff = signer.kind == .organization && author?.organization == signer.id && author?.revoked == false
            && !authorRoles.isDisjoint(with: author.map { Directory.effectiveRoles(of: $0, in: state) } ?? [])
        return entry.labelsPrivate == true && entry.storedCategory == nil && entry.carriedLabels == nil && entry.erasedHeight == nil
            && entry.custodian == organization && entry.custodian == (existing?.custodian ?? organization)
            && entry.height == call.height && entry.timeMs == call.timeMs
            && (existing.map { !$0.isErased && $0.patient == entry.patient && $0.resourceType == entry.resourceType } ?? true)
            && (entry.author == signer.id || authorIsStaff)
            && (entry.patient == RecordEntry.noPatient || Directory.identity(entry.patient, in: state)?.kind == .patient)
    }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        let record: Hash256
        switch Method(rawValue: transaction.body.method) {
        case .register: guard let args = Register(transaction) else { return [] }; record = args.record
        case .erase: guard let args = Erase(transaction) else { return [] }; record = args.record
        case .releaseLabel: guard let args = ReleaseLabel(transaction) else { return [] }; record = args.record
        case .registerMany, nil: return []
        }
        return [RecordIndex.currentKey(record), Directory.identityKey(transaction.body.sender)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .register: try register(call, try Register(call), &state)
        case .registerMany:
            for (index, entry) in try RegisterMany(call).entries.enumerated() {
                do { try register(call, entry, &state) } catch {
                    throw Rejection(error.code, "entry \(index): \(error.message)")
                }
            }
        case .erase: try erase(call, try Erase(call), &state)
        case .releaseLabel: try releaseLabel(call, try ReleaseLabel(call), &state)
        }
    }

    /// Registers version 1 of a new record, or the next version of an existing one.
    private func register(_ call: ContractCall, _ args: Register, _ state: inout StateView) throws(Rejection) {
        let signer = try Directory.activeSender(call, in: state)
        let record = args.record
        let resourceType = args.resourceType
        let category = args.category
        let version = UInt64(args.version)
        // An organization's system (its FHIR server) writes on behalf of an authenticated staff
        // member: the member is the record's author, the organization's signature vouches for it.
        let sender = try Self.agent(args, signer: signer, state)
        let patient: IdentityID
        if Self.directoryResourceTypes.contains(resourceType) {
            guard args.patient == nil else {
                throw Rejection(.badArguments, "\(resourceType) is directory data and is registered without a patient")
            }
            guard category == .general else { throw Rejection(.unknownCategory, "directory data is in the general category") }
            patient = RecordEntry.noPatient
        } else if let argPatient = args.patient {
            patient = argPatient
            guard let patientIdentity = Directory.identity(patient, in: state), patientIdentity.kind == .patient else {
                throw Rejection(.unknownPatient, "no patient \(patient.hex)")
            }
            guard !patientIdentity.revoked else { throw Rejection(.unknownPatient, "patient \(patient.hex) is revoked") }
        } else {
            // A resource about no identifiable patient (a device, a group, a bundle): readable by
            // its custodian's care team and author only — no consent can name it.
            patient = RecordEntry.noPatient
        }

        let existing = RecordIndex.current(record, in: state)
        let isPrivate = call.envelope != nil
        if existing?.labelsPrivate == true, !isPrivate {
            throw Rejection(.badArguments, "record \(record.hex)'s labels are private to its custodian; register its versions privately")
        }
        let custodian: IdentityID
        if let existing {
            guard !existing.isErased else { throw Rejection(.recordErased, "record \(record.hex) was erased") }
            guard version == existing.version + 1 else {
                throw Rejection(.versionConflict, "record \(record.hex) is at version \(existing.version); expected \(existing.version + 1)")
            }
            guard existing.patient == patient, existing.resourceType == resourceType else {
                throw Rejection(.versionConflict, "a new version keeps the record's patient and resource type")
            }
            custodian = existing.custodian
            let senderOrganization = try Self.organization(of: sender, in: state)
            // Recategorizing changes which consents cover the record (a sensitive record moved to
            // "general" would open to every general consent): only the custodian decides that.
            guard category == existing.category || senderOrganization == custodian else {
                throw Rejection(.categoryChangeNotAllowed,
                                "only the custodian may change record \(record.hex) from \(existing.category.rawValue) to \(category.rawValue)")
            }
            if senderOrganization != custodian {
                let request = AccessRequest(requester: sender.id, record: record, purpose: .treatment, action: .contribute)
                let decision = ConsentPolicy.decide(request, in: state, nowMs: call.timeMs, height: call.height)
                guard decision.isPermitted else {
                    throw Rejection(.unauthorized, "no consent lets \(sender.id.hex) contribute to record \(record.hex): \(decision.requesterReason.text)")
                }
            }
        } else {
            guard version == 1 else { throw Rejection(.unknownRecord, "record \(record.hex) does not exist; register version 1 first") }
            custodian = try Self.organization(of: sender, in: state)
        }
        // Labels carry over: a version without one (a FHIR update that drops `meta.security`)
        // leaves the record as protected as it was.
        let carried = (existing?.sensitiveLabels ?? []).subtracting([category]).sorted()
        var entry = RecordEntry(record: record, patient: patient, resourceType: resourceType, category: category, author: sender.id,
                                custodian: custodian, ciphertextHash: args.ciphertextHash, version: version,
                                height: call.height, timeMs: call.timeMs, carriedLabels: carried.isEmpty ? nil : carried)
        if isPrivate {
            // The labels go to the custodian's collection; the shared entry says only that they are private.
            try state.set(RecordIndex.labelKey(record, version), RecordLabel(category: category, carriedLabels: entry.carriedLabels))
            (entry.storedCategory, entry.carriedLabels, entry.labelsPrivate) = (nil, nil, true)
        }
        try state.set(RecordIndex.currentKey(record), entry)
        try state.set(RecordIndex.versionKey(record, version), entry)
        if existing == nil, patient != RecordEntry.noPatient { state.set(RecordIndex.patientKey(patient, record), CanonicalValue.null) }
    }

    /// The author a register call speaks for: the signer, or — when an organization signs with an
    /// `agent` — that active member of the organization, who must hold an author role.
    private static func agent(_ args: Register, signer: Identity, _ state: StateView) throws(Rejection) -> Identity {
        guard let id = args.agent else { return signer }
        guard signer.kind == .organization else { throw Rejection(.unauthorized, "only an organization writes on behalf of an agent") }
        guard let agent = Directory.identity(id, in: state), agent.organization == signer.id else {
            throw Rejection(.notOrganizationMember, "agent \(id.hex) is not a member of \(signer.id.hex)")
        }
        guard !agent.revoked else { throw Rejection(.senderRevoked, "agent \(id.hex) has been revoked") }
        guard !authorRoles.isDisjoint(with: Directory.effectiveRoles(of: agent, in: state)) else {
            throw Rejection(.unauthorized, "agent \(id.hex) needs one of the roles \(authorRoles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        return agent
    }

    /// The custodian side of erasure: the custodian organization itself, or an administrator it
    /// enrolled (with `roles`, its effective roles). Nobody else on the custodian's staff erases —
    /// not through a transaction, and not through the FHIR server, which signs as the custodian.
    public static func erasesAsCustodian(_ sender: Identity, custodian: IdentityID, roles: Set<Role>) -> Bool {
        sender.id == custodian || (sender.organization == custodian && roles.contains(.admin))
    }

    /// Records the erasure of a record: by its patient, a delegate, or the custodian organization.
    private func erase(_ call: ContractCall, _ args: Erase, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        let record = args.record
        guard var entry = RecordIndex.current(record, in: state) else { throw Rejection(.unknownRecord, "no record \(record.hex)") }
        guard !entry.isErased else { throw Rejection(.recordErased, "record \(record.hex) is already erased") }
        let isCustodian = Self.erasesAsCustodian(sender, custodian: entry.custodian, roles: Directory.effectiveRoles(of: sender, in: state))
        guard ConsentIndex.isPatientSide(sender.id, of: entry.patient, in: state) || isCustodian else {
            throw Rejection(.unauthorized, "only the patient, a delegate or the custodian may erase record \(record.hex)")
        }
        entry.erasedHeight = call.height
        entry.erasedBy = sender.id
        try state.set(RecordIndex.currentKey(record), entry)
    }

    /// Releases a sensitive label carried over from earlier versions: only the patient (or a
    /// delegate) or a privacy officer of the custodian may downgrade a record, and the transaction
    /// is the audit trail of it. Versions labelled themselves keep their own label.
    private func releaseLabel(_ call: ContractCall, _ args: ReleaseLabel, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        guard var entry = RecordIndex.current(args.record, in: state) else { throw Rejection(.unknownRecord, "no record \(args.record.hex)") }
        guard !entry.isErased else { throw Rejection(.recordErased, "record \(args.record.hex) was erased") }
        let isPrivacyOfficer = sender.organization == entry.custodian
            && Directory.effectiveRoles(of: sender, in: state).contains(.privacyOfficer)
        guard (!entry.isDirectory && ConsentIndex.isPatientSide(sender.id, of: entry.patient, in: state)) || isPrivacyOfficer else {
            throw Rejection(.unauthorized, "only the patient, a delegate or a privacy officer of the custodian may release a label")
        }
        // Labels are released where they are: privately for a record registered privately, in the clear otherwise.
        guard (entry.labelsPrivate == true) == (call.envelope != nil) else {
            throw Rejection(.badArguments, entry.labelsPrivate == true
                            ? "record \(args.record.hex)'s labels are private to its custodian; release them privately"
                            : "record \(args.record.hex)'s labels are shared; release them in the clear")
        }
        guard var carried = entry.carriedLabels, let index = carried.firstIndex(of: args.category) else {
            let why = args.category == entry.category
                ? "version \(entry.version) itself is labelled \(args.category.rawValue); register a version without the label first"
                : "record \(args.record.hex) carries no \(args.category.rawValue) label from an earlier version"
            throw Rejection(.labelNotCarried, why)
        }
        carried.remove(at: index)
        entry.carriedLabels = carried.isEmpty ? nil : carried
        if entry.labelsPrivate == true {
            try state.set(RecordIndex.labelKey(args.record, entry.version), RecordLabel(category: entry.category, carriedLabels: entry.carriedLabels))
            return
        }
        try state.set(RecordIndex.currentKey(args.record), entry)
    }

    /// The organization a sender acts for: itself, or the organization that enrolled a member
    /// with an author role.
    static func organization(of sender: Identity, in state: StateView) throws(Rejection) -> IdentityID {
        switch sender.kind {
        case .organization: return sender.id
        case .member, .device:
            guard let organization = sender.organization,
                  !authorRoles.isDisjoint(with: Directory.effectiveRoles(of: sender, in: state)) else {
                throw Rejection(.unauthorized, "writing records needs one of the roles \(authorRoles.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            return organization
        case .patient: throw Rejection(.unauthorized, "patients do not author records")
        }
    }

    /// True for names like "Observation": ASCII letters, first one upper case.
    public static func isResourceTypeName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (65...90).contains(first), bytes.count >= 2, bytes.count <= resourceTypeBytesMax else { return false }
        return bytes.allSatisfy { (65...90).contains($0) || (97...122).contains($0) }
    }
}
