public import LedgerCore

extension SensitivityCategory: ArgumentName {
    public static var argumentDescription: String { "sensitivity category" }
    public static var unknownNameCode: ResultCode { .unknownCategory }
}

extension RecordsContract {
    /// The records contract's methods.
    public enum Method: String, ContractMethods {
        case register, registerMany, erase, releaseLabel
        public static let contract = "records"
    }

    /// records.register: version 1 of a new record, or the next version of an existing one.
    public struct Register: ContractMethod, Equatable {
        public static let method = Method.register
        public var record: Hash256
        /// The patient the record is about; nil for directory data or a resource about no patient.
        public var patient: IdentityID?
        /// A FHIR resource type name, e.g. "Observation".
        public var resourceType: String
        public var category: SensitivityCategory
        public var ciphertextHash: Hash256
        public var version: Int64
        /// The organization member an organization's system writes for.
        public var agent: IdentityID?

        public init(record: Hash256, patient: IdentityID?, resourceType: String, category: SensitivityCategory,
                    ciphertextHash: Hash256, version: Int64, agent: IdentityID? = nil) {
            (self.record, self.patient, self.resourceType, self.category, self.ciphertextHash, self.version, self.agent) =
                (record, patient, resourceType, category, ciphertextHash, version, agent)
        }

        public func validate() throws(Rejection) {
            try Check.text(resourceType, CodingKeys.resourceType, maxBytes: RecordsContract.resourceTypeBytesMax)
            guard RecordsContract.isResourceTypeName(resourceType) else {
                throw Rejection(.unknownResourceType, "“\(resourceType)” is not a FHIR resource type name")
            }
            try Check.int(version, CodingKeys.version, in: 1...RecordsContract.versionMax)
        }
    }

    /// records.registerMany: 1…`registrationsPerTransactionMax` registrations, all or none.
    public struct RegisterMany: ContractMethod, Equatable {
        public static let method = Method.registerMany
        public var entries: [Register]

        public init(entries: [Register]) { self.entries = entries }

        public func validate() throws(Rejection) {
            try Check.count(entries, CodingKeys.entries, 1...RecordsContract.registrationsPerTransactionMax)
        }
    }

    /// records.erase: the patient, a delegate or the custodian erases a record.
    public struct Erase: ContractMethod, Equatable {
        public static let method = Method.erase
        public var record: Hash256

        public init(record: Hash256) { self.record = record }
    }

    /// records.releaseLabel: the patient, a delegate or a privacy officer of the custodian
    /// releases a sensitive label that earlier versions carried over to the record.
    public struct ReleaseLabel: ContractMethod, Equatable {
        public static let method = Method.releaseLabel
        public var record: Hash256
        public var category: SensitivityCategory

        public init(record: Hash256, category: SensitivityCategory) { (self.record, self.category) = (record, category) }

        public func validate() throws(Rejection) {
            guard category.isSensitive else { throw Rejection(.badArguments, "“category” names a sensitive category, not general") }
        }
    }
}
