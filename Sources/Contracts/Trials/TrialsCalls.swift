public import LedgerCore

extension TrialsContract {
    /// The trials contract's methods.
    public enum Method: String, ContractMethods {
        case register, amend, consent, withdraw, enroll, submitData, reportResults, publishCriteria, recruitMatch
        public static let contract = "trials"
    }

    /// A trial id argument: 1…32 characters of A-Z, a-z, 0-9 and -.
    static func checkTrialID(_ id: String, _ key: some CodingKey) throws(Rejection) {
        try Check.text(id, key, maxBytes: trialIdBytesMax)
        guard isTrialID(id) else { throw Rejection(.badArguments, "trial id must be 1…\(trialIdBytesMax) characters of A-Z, a-z, 0-9 and -") }
    }

    /// A code (endpoint or criterion): 1…`maxBytes` bytes of printable ASCII, so equal codes are equal bytes.
    static func checkCode(_ code: String, maxBytes: Int, what: String) throws(Rejection) {
        guard !code.isEmpty, code.utf8.count <= maxBytes else { throw Rejection(.badArguments, "each \(what) code is 1…\(maxBytes) bytes") }
        guard code.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else { throw Rejection(.badArguments, "\(what) codes are printable ASCII") }
    }

    /// A list of 1…`maxCount` distinct codes (absent is fine: the caller says whether it is required).
    static func checkCodes(_ list: [String]?, _ key: some CodingKey, maxCount: Int, maxBytes: Int, duplicate: ResultCode,
                           what: String) throws(Rejection) {
        guard let list else { return }
        try Check.count(list, key, 0...maxCount)
        guard !list.isEmpty else { throw Rejection(.badArguments, "“\(key.stringValue)” must hold 1…\(maxCount) codes") }
        var seen = Set<String>()
        for item in list {
            try checkCode(item, maxBytes: maxBytes, what: what)
            guard seen.insert(item).inserted else { throw Rejection(duplicate, "\(what) \(item) is listed twice") }
        }
    }

    /// Primary and secondary endpoint lists, each well formed, and disjoint when both are given.
    static func checkEndpoints(_ primary: [String]?, _ primaryKey: some CodingKey, _ secondary: [String]?,
                               _ secondaryKey: some CodingKey) throws(Rejection) {
        try checkCodes(primary, primaryKey, maxCount: endpointsMax, maxBytes: endpointBytesMax, duplicate: .duplicateEndpoint, what: "endpoint")
        try checkCodes(secondary, secondaryKey, maxCount: endpointsMax, maxBytes: endpointBytesMax, duplicate: .duplicateEndpoint, what: "endpoint")
        if let primary, let secondary, let clash = Set(primary).intersection(secondary).sorted().first {
            throw Rejection(.duplicateEndpoint, "endpoint \(clash) cannot be both primary and secondary")
        }
    }

    /// A site list: 1…`sitesMax` distinct organization ids (checked against the directory by the contract).
    static func checkSites(_ sites: [IdentityID]?, _ key: some CodingKey) throws(Rejection) {
        guard let sites else { return }
        try Check.count(sites, key, 0...sitesMax)
        guard !sites.isEmpty else { throw Rejection(.badArguments, "sites must hold 1…\(sitesMax) organization ids") }
        guard Set(sites).count == sites.count else { throw Rejection(.badArguments, "a site is listed twice") }
    }

    /// trials.register: a sponsor registers a trial (protocol version 1).
    public struct Register: ContractMethod, Equatable {
        public static let method = Method.register
        public var trial: String
        public var protocolHash: Hash256
        public var consentFormVersion: Int64
        public var primaryEndpoints: [String]
        public var secondaryEndpoints: [String]
        /// Site organizations (hospitals, clinics, laboratories).
        public var sites: [IdentityID]

        public init(trial: String, protocolHash: Hash256, consentFormVersion: Int64, primaryEndpoints: [String], secondaryEndpoints: [String],
                    sites: [IdentityID]) {
            (self.trial, self.protocolHash, self.consentFormVersion, self.primaryEndpoints, self.secondaryEndpoints, self.sites) =
                (trial, protocolHash, consentFormVersion, primaryEndpoints, secondaryEndpoints, sites)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try Check.int(consentFormVersion, CodingKeys.consentFormVersion, in: 1...TrialsContract.consentFormVersionMax)
            try TrialsContract.checkEndpoints(primaryEndpoints, CodingKeys.primaryEndpoints, secondaryEndpoints, CodingKeys.secondaryEndpoints)
            try TrialsContract.checkSites(sites, CodingKeys.sites)
        }
    }

    /// trials.amend: the sponsor appends a protocol version; absent parts carry over.
    public struct Amend: ContractMethod, Equatable {
        public static let method = Method.amend
        public var trial: String
        public var protocolHash: Hash256
        public var reason: String
        public var primaryEndpoints: [String]?
        public var secondaryEndpoints: [String]?
        public var consentFormVersion: Int64?
        public var sites: [IdentityID]?

        public init(trial: String, protocolHash: Hash256, reason: String, primaryEndpoints: [String]? = nil, secondaryEndpoints: [String]? = nil,
                    consentFormVersion: Int64? = nil, sites: [IdentityID]? = nil) {
            (self.trial, self.protocolHash, self.reason, self.primaryEndpoints, self.secondaryEndpoints, self.consentFormVersion, self.sites) =
                (trial, protocolHash, reason, primaryEndpoints, secondaryEndpoints, consentFormVersion, sites)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try Check.text(reason, CodingKeys.reason, maxBytes: TrialsContract.reasonBytesMax)
            try Check.int(consentFormVersion, CodingKeys.consentFormVersion, in: 1...TrialsContract.consentFormVersionMax)
            try TrialsContract.checkEndpoints(primaryEndpoints, CodingKeys.primaryEndpoints, secondaryEndpoints, CodingKeys.secondaryEndpoints)
            try TrialsContract.checkSites(sites, CodingKeys.sites)
        }
    }

    /// trials.consent: a patient (or delegate) consents to the trial's current consent form.
    public struct Consent: ContractMethod, Equatable {
        public static let method = Method.consent
        public var trial: String
        public var patient: IdentityID
        public var consentFormVersion: Int64
        /// Whether the patient may be contacted for recruitment (absent: no).
        public var recruitmentContact: Bool?

        public init(trial: String, patient: IdentityID, consentFormVersion: Int64, recruitmentContact: Bool? = nil) {
            (self.trial, self.patient, self.consentFormVersion, self.recruitmentContact) = (trial, patient, consentFormVersion, recruitmentContact)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try Check.int(consentFormVersion, CodingKeys.consentFormVersion, in: 1...TrialsContract.consentFormVersionMax)
        }
    }

    /// trials.withdraw: the patient (or delegate) withdraws.
    public struct Withdraw: ContractMethod, Equatable {
        public static let method = Method.withdraw
        public var trial: String
        public var patient: IdentityID

        public init(trial: String, patient: IdentityID) { (self.trial, self.patient) = (trial, patient) }

        public func validate() throws(Rejection) { try TrialsContract.checkTrialID(trial, CodingKeys.trial) }
    }

    /// trials.enroll: site staff enroll a consented patient.
    public struct Enroll: ContractMethod, Equatable {
        public static let method = Method.enroll
        public var trial: String
        public var patient: IdentityID

        public init(trial: String, patient: IdentityID) { (self.trial, self.patient) = (trial, patient) }

        public func validate() throws(Rejection) { try TrialsContract.checkTrialID(trial, CodingKeys.trial) }
    }

    /// trials.submitData: site staff anchor case-report-form hashes for an enrolled participant.
    public struct SubmitData: ContractMethod, Equatable {
        public static let method = Method.submitData
        public var trial: String
        public var participant: IdentityID
        public var crfHashes: [Hash256]
        /// A pre-registered endpoint of the version in force.
        public var endpoint: String

        public init(trial: String, participant: IdentityID, crfHashes: [Hash256], endpoint: String) {
            (self.trial, self.participant, self.crfHashes, self.endpoint) = (trial, participant, crfHashes, endpoint)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try Check.count(crfHashes, CodingKeys.crfHashes, 1...TrialsContract.crfHashesPerBatchMax)
            try Check.text(endpoint, CodingKeys.endpoint, maxBytes: TrialsContract.endpointBytesMax)
            try TrialsContract.checkCode(endpoint, maxBytes: TrialsContract.endpointBytesMax, what: "endpoint")
        }
    }

    /// trials.reportResults: the sponsor reports results (flagged when primary endpoints switch).
    public struct ReportResults: ContractMethod, Equatable {
        public static let method = Method.reportResults
        public var trial: String
        public var primaryEndpoints: [String]
        public var resultsHash: Hash256

        public init(trial: String, primaryEndpoints: [String], resultsHash: Hash256) {
            (self.trial, self.primaryEndpoints, self.resultsHash) = (trial, primaryEndpoints, resultsHash)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try TrialsContract.checkCodes(primaryEndpoints, CodingKeys.primaryEndpoints, maxCount: TrialsContract.endpointsMax,
                                          maxBytes: TrialsContract.endpointBytesMax, duplicate: .duplicateEndpoint, what: "endpoint")
        }
    }

    /// trials.publishCriteria: the sponsor publishes recruitment eligibility criteria.
    public struct PublishCriteria: ContractMethod, Equatable {
        public static let method = Method.publishCriteria
        public var trial: String
        public var criteriaHash: Hash256
        /// Coded criteria, e.g. "age>=18".
        public var criteria: [String]

        public init(trial: String, criteriaHash: Hash256, criteria: [String]) {
            (self.trial, self.criteriaHash, self.criteria) = (trial, criteriaHash, criteria)
        }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try TrialsContract.checkCodes(criteria, CodingKeys.criteria, maxCount: TrialsContract.criteriaMax,
                                          maxBytes: TrialsContract.criterionBytesMax, duplicate: .duplicateCriterion, what: "criterion")
        }
    }

    /// trials.recruitMatch: a custodian announces blinded match tokens.
    public struct RecruitMatch: ContractMethod, Equatable {
        public static let method = Method.recruitMatch
        public var trial: String
        public var tokens: [Hash256]

        public init(trial: String, tokens: [Hash256]) { (self.trial, self.tokens) = (trial, tokens) }

        public func validate() throws(Rejection) {
            try TrialsContract.checkTrialID(trial, CodingKeys.trial)
            try Check.count(tokens, CodingKeys.tokens, 1...TrialsContract.matchTokensPerCallMax)
        }
    }
}
