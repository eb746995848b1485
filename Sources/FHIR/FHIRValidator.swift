import Foundation

/// One problem `FHIRValidator` found in a resource.
public struct FHIRValidationIssue: Sendable, Equatable, CustomStringConvertible {
    /// An IssueSeverity code (http://hl7.org/fhir/valueset-issue-severity.html).
    public enum Severity: String, Sendable, Equatable {
        case fatal, error, warning, information
    }

    public let severity: Severity
    /// An IssueType code (http://hl7.org/fhir/valueset-issue-type.html): `structure` (unknown element,
    /// wrong JSON type, array where a single value belongs or the reverse, too many values, two types of
    /// one choice element), `required` (a mandatory element is missing), `value` (a primitive's format,
    /// a reference's shape), `code-invalid` (a code outside a required binding), `invalid` (an unknown or
    /// abstract resourceType), `too-costly` (the depth or issue limit was reached).
    public let code: String
    /// A sentence for people: element names, types, codes, ids and references, never other values (they may be PHI).
    public let message: String
    /// Where: a FHIRPath expression such as `Patient.name[0].given[1]`, `Observation.value.ofType(Quantity)`
    /// or, in a Bundle, `Bundle.entry[2].resource.status`.
    public let expression: String

    public init(severity: Severity = .error, code: String, message: String, expression: String) {
        (self.severity, self.code, self.message, self.expression) = (severity, code, message, expression)
    }

    public var description: String { "\(severity.rawValue) \(code) at \(expression): \(message)" }
}

/// Structural validation of FHIR R4 JSON resources against the official R4 definitions (generated into
/// `Tables/R4Definitions.tsv` by `scripts/generate-fhir-tables.py`): known resource types and
/// elements, JSON types, cardinality, choice types, primitive formats (the StructureDefinitions'
/// regexes), codes of required bindings, the shape of `Reference.reference`, recursively through
/// datatypes, backbone elements, `contained` resources and Bundle entries.
///
/// Not checked: invariants (FHIRPath constraints), profiles, reference targets' types, extensible or
/// weaker bindings, and required bindings whose value set the package cannot expand (currencies,
/// MIME types, UCUM units: see the table's X lines).
public enum FHIRValidator {
    /// Issues reported before one last `too-costly` issue ends the list.
    public static let issueLimit = 100
    /// Deepest nesting of objects looked into (a resource's top level is depth 1).
    public static let depthLimit = 48

    /// The problems of `resource` (a parsed JSON object, as `FHIRJSON.object` returns), in document
    /// order of sorted keys; empty when it is valid. At most `issueLimit` + 1 issues.
    public static func validate(_ resource: [String: Any]) -> [FHIRValidationIssue] {
        // Most resources have no issue: the fast path says so without building any expression; the
        // full walk, which reports, runs only for the others.
        if fastPathFindsNoIssue(resource) { return [] }
        return validateWalkingEverything(resource)
    }

    /// Whether the fast path (`Probe`) finds no issue in `resource`.
    static func fastPathFindsNoIssue(_ resource: [String: Any]) -> Bool {
        Probe(compiled: Compiled.shared).resource(resource, depth: 1)
    }

    /// `validate` without its fast path.
    static func validateWalkingEverything(_ resource: [String: Any]) -> [FHIRValidationIssue] {
        var run = Run(definitions: R4Tables.shared)
        run.resource(resource, path: nil, depth: 1)
        return run.issues
    }

    /// Whether `validate` reports any error or fatal issue.
    public static func isValid(_ resource: [String: Any]) -> Bool {
        !validate(resource).contains { $0.severity == .error || $0.severity == .fatal }
    }

    /// An OperationOutcome listing `issues` (or one informational issue when there are none).
    public static func outcome(_ issues: [FHIRValidationIssue]) -> [String: Any] {
        guard !issues.isEmpty else { return OperationOutcome.information("no issues found") }
        return ["resourceType": "OperationOutcome",
                "issue": issues.map { issue -> [String: Any] in
                    ["severity": issue.severity.rawValue, "code": issue.code, "diagnostics": issue.message,
                     "expression": [issue.expression]]
                }]
    }

    /// Whether `type` is a concrete (not abstract) R4 resource type.
    public static func isResourceType(_ type: String) -> Bool { R4Tables.shared.resourceTypes.contains(type) }

    /// The required-binding value sets the generated table could not expand, whose codes are not checked.
    public static var unexpandedValueSets: [String] { R4Tables.shared.unexpanded }

    /// The R4 regex of primitive `type` as the validator's checks mean it (anchored, Java's `\s`), in ICU
    /// syntax for `NSRegularExpression`; "" when the type has none, nil for an unknown type.
    public static func primitivePattern(_ type: String) -> String? {
        guard let primitive = R4Tables.shared.primitives[type] else { return nil }
        return primitive.pattern.isEmpty ? "" : R4Tables.icuPattern(primitive.pattern)
    }

    /// Whether `text` has the format of string primitive `type` (what `validate` checks of such a value
    /// before any binding); nil when `type` is not a string primitive.
    public static func hasPrimitiveFormat(_ text: String, type: String) -> Bool? {
        guard let primitive = R4Tables.shared.primitives[type], primitive.json == .string else { return nil }
        return primitive.matches(text)
    }
}

// MARK: - The walk

extension FHIRValidator {
    fileprivate struct Run {
        let definitions: R4Tables
        var issues: [FHIRValidationIssue] = []
        var full = false

        init(definitions: R4Tables) { self.definitions = definitions }

        mutating func report(_ code: String, _ message: String, at expression: String, severity: FHIRValidationIssue.Severity = .error) {
            guard !full else { return }
            if issues.count == FHIRValidator.issueLimit {
                issues.append(FHIRValidationIssue(severity: .error, code: "too-costly",
                                                  message: "more than \(FHIRValidator.issueLimit) issues; the rest are not reported",
                                                  expression: expression))
                full = true
                return
            }
            issues.append(FHIRValidationIssue(severity: severity, code: code, message: message, expression: expression))
        }

        /// A resource: at the top (`path` nil) or inside another (`contained`, `Bundle.entry.resource`, …).
        mutating func resource(_ object: [String: Any], path: String?, depth: Int) {
            guard let value = object["resourceType"] else {
                report("required", "a resource must have a resourceType", at: path.map { "\($0).resourceType" } ?? "resourceType")
                return
            }
            guard let type = value as? String else {
                report("structure", "resourceType must be a string", at: path.map { "\($0).resourceType" } ?? "resourceType")
                return
            }
            guard let node = definitions.nodes[type], definitions.resourceTypes.contains(type) else {
                let what = definitions.nodes[type] != nil ? "is an abstract type" : "is not an R4 resource type"
                report("invalid", "resourceType “\(type.prefix(64))” \(what)", at: path.map { "\($0).resourceType" } ?? "resourceType")
                return
            }
            self.object(object, node: node, path: path ?? type, depth: depth, isResource: true)
        }

        /// An object whose members `node` defines.
        mutating func object(_ object: [String: Any], node: Node, path: String, depth: Int, isResource: Bool = false) {
            guard !full else { return }
            guard depth <= FHIRValidator.depthLimit else {
                report("too-costly", "nested deeper than \(FHIRValidator.depthLimit) levels; not checked further", at: path)
                return
            }
            if object.isEmpty {
                report("structure", "an object must have at least one member", at: path)
                return
            }
            var choices: [String: [String]] = [:]   // choice element name → the JSON keys used
            for key in object.keys.sorted() {
                guard !full else { return }
                let value = object[key]!
                if isResource, key == "resourceType" { continue }
                if key.hasPrefix("_") {
                    let base = String(key.dropFirst())
                    guard let member = node.members[base], definitions.isPrimitive(member.type) else {
                        report("structure", "unknown element “\(key.prefix(64))”", at: "\(path).\(key.prefix(64))")
                        continue
                    }
                    primitiveExtension(value, member: member, key: base, object: object, path: path, depth: depth)
                    continue
                }
                guard let member = node.members[key] else {
                    report("structure", "unknown element “\(key.prefix(64))”", at: "\(path).\(key.prefix(64))")
                    continue
                }
                let element = member.element
                if element.isChoice { choices[element.name, default: []].append(key) }
                let here = element.isChoice ? "\(path).\(element.name).ofType(\(member.type))" : "\(path).\(element.name)"
                if element.max > 1 {
                    guard let list = value as? [Any] else {
                        report("structure", "\(element.name) must be an array", at: here)
                        continue
                    }
                    if list.isEmpty { report("structure", "an array must have at least one item", at: here) }
                    if list.count > element.max {
                        report("structure", "\(element.name) has \(list.count) items; at most \(element.max) are allowed", at: here)
                    }
                    let extensions = object["_" + key] as? [Any]
                    for (index, item) in list.enumerated() {
                        if R4Tables.isNull(item), definitions.isPrimitive(member.type), let extensions, index < extensions.count,
                           !R4Tables.isNull(extensions[index]) {
                            continue   // the value is absent but the item has extensions
                        }
                        self.value(item, member: member, path: "\(here)[\(index)]", depth: depth)
                    }
                } else {
                    if R4Tables.kind(value) == .array {
                        report("structure", "\(element.name) must be a single value, not an array", at: here)
                        continue
                    }
                    self.value(value, member: member, path: here, depth: depth)
                }
            }
            for (name, keys) in choices.sorted(by: { $0.key < $1.key }) where keys.count > 1 {
                report("structure", "\(name)[x] may have only one type; found \(keys.joined(separator: ", "))", at: "\(path).\(name)")
            }
            for element in node.required {
                let present: Bool
                if element.isChoice {
                    present = choices[element.name] != nil
                        || element.types.contains { object["_" + element.name + R4Tables.capitalized($0)] != nil }
                } else {
                    present = object[element.name] != nil || object["_" + element.name] != nil
                }
                if !present {
                    report("required", "\(element.name)\(element.isChoice ? "[x]" : "") is required (minimum cardinality \(element.min))",
                           at: "\(path).\(element.name)")
                }
            }
        }

        /// `_name`: the id and extensions of primitive `name` (an array of them, or nulls, when `name` repeats).
        mutating func primitiveExtension(_ value: Any, member: Member, key: String, object: [String: Any], path: String, depth: Int) {
            let element = member.element
            let here = element.isChoice ? "\(path).\(element.name).ofType(\(member.type))" : "\(path).\(element.name)"
            guard let elementNode = definitions.nodes["Element"] else { return }
            if element.max > 1 {
                guard let list = value as? [Any] else {
                    report("structure", "_\(key) must be an array", at: here)
                    return
                }
                if let values = object[key] as? [Any], values.count != list.count {
                    report("structure", "_\(key) has \(list.count) items but \(key) has \(values.count)", at: here)
                }
                for (index, item) in list.enumerated() where !R4Tables.isNull(item) {
                    guard let extensions = item as? [String: Any] else {
                        report("structure", "_\(key) items must be objects or null", at: "\(here)[\(index)]")
                        continue
                    }
                    self.object(extensions, node: elementNode, path: "\(here)[\(index)]", depth: depth + 1)
                }
            } else {
                guard let extensions = value as? [String: Any] else {
                    report("structure", "_\(key) must be an object", at: here)
                    return
                }
                self.object(extensions, node: elementNode, path: here, depth: depth + 1)
            }
        }

        /// One value of an element (an array's item, or the whole value when the element does not repeat).
        mutating func value(_ value: Any, member: Member, path: String, depth: Int) {
            let type = member.type
            if let primitive = definitions.primitives[type] {
                self.primitive(value, type: type, primitive: primitive, valueSet: member.element.valueSet, path: path)
                return
            }
            guard let object = value as? [String: Any] else {
                report("structure", "\(member.element.name) must be an object (\(type.isEmpty ? "BackboneElement" : type)), not \(R4Tables.jsonKind(value))",
                       at: path)
                return
            }
            if type == "Resource" {
                resource(object, path: path, depth: depth + 1)
                return
            }
            let nodeKey = member.element.node ?? type
            guard let node = definitions.nodes[nodeKey] else { return }
            self.object(object, node: node, path: path, depth: depth + 1)
            if let valueSet = member.element.valueSet { coded(object, type: type, valueSet: valueSet, path: path) }
            if type == "Reference", let reference = object["reference"] as? String, !reference.isEmpty,
               !FHIRJSON.isValidReference(reference) {
                report("value", "reference “\(reference.prefix(80))” is not Type/id, an absolute URL, #contained or urn:uuid:/urn:oid:",
                       at: "\(path).reference")
            }
        }

        /// A primitive value: its JSON type, its format, and its code when a required binding applies.
        mutating func primitive(_ value: Any, type: String, primitive: Primitive, valueSet: Int?, path: String) {
            let kind = R4Tables.jsonKind(value)
            switch primitive.json {
            case .string:
                guard let text = value as? String, kind == "a string" else {
                    report("structure", "must be a string (\(type)), not \(kind)", at: path)
                    return
                }
                guard primitive.matches(text) else {
                    // Only codes and ids are quoted back: other values may be PHI (FHIRError's rule).
                    let quoted = ["code", "id"].contains(type) ? "“\(text.prefix(64))” " : ""
                    report("value", text.isEmpty ? "must not be empty" : "\(quoted)is not a valid \(type)", at: path)
                    return
                }
                if let valueSet, let set = definitions.valueSets[valueSet], !set.all.contains(text) {
                    report("code-invalid", "“\(text.prefix(64))” is not a code of the required value set \(set.url)", at: path)
                }
            case .boolean:
                guard kind == "a boolean" else {
                    report("structure", "must be a boolean (\(type)), not \(kind)", at: path)
                    return
                }
            case .number:
                guard kind == "a number", let number = R4Tables.number(value) else {
                    report("structure", "must be a number (\(type)), not \(kind)", at: path)
                    return
                }
                if type == "decimal" {
                    guard number.double.isFinite else { report("value", "not a finite decimal", at: path); return }
                    return
                }
                guard let integer = number.integer, (-2_147_483_648...2_147_483_647).contains(integer) else {
                    report("value", "not a 32-bit \(type) (a whole number without fraction or exponent)", at: path)
                    return
                }
                if type == "positiveInt", integer < 1 { report("value", "a positiveInt must be 1 or more", at: path) }
                if type == "unsignedInt", integer < 0 { report("value", "an unsignedInt must be 0 or more", at: path) }
            }
        }

        /// A Coding or CodeableConcept bound to a required value set.
        mutating func coded(_ object: [String: Any], type: String, valueSet index: Int, path: String) {
            guard let set = definitions.valueSets[index] else { return }
            var codings: [(coding: [String: Any], path: String)] = []
            if type == "Coding" {
                codings = [(object, path)]
            } else if type == "CodeableConcept" {
                guard let list = object["coding"] as? [Any] else { return }   // text only: nothing to check
                codings = list.enumerated().compactMap { index, item in (item as? [String: Any]).map { ($0, "\(path).coding[\(index)]") } }
            } else {
                return
            }
            var matched = false
            for (coding, where_) in codings {
                guard let code = coding["code"] as? String else { continue }
                let system = coding["system"] as? String
                if let system, let codes = set.bySystem[system] {
                    if codes.contains(code) {
                        matched = true
                    } else {
                        report("code-invalid", "“\(code.prefix(64))” is not a code of \(system) in the required value set \(set.url)",
                               at: "\(where_).code")
                        return
                    }
                } else if system == nil, set.all.contains(code) {
                    matched = true
                }
            }
            if !matched, codings.contains(where: { $0.coding["code"] != nil }) {
                report("code-invalid", "no coding is from the required value set \(set.url)", at: path)
            }
        }
    }
}

// MARK: - The generated table, parsed

/// One element of a type or backbone element.
struct R4Element: Sendable {
    /// The JSON name (a choice element's without its `[x]` and type suffix).
    let name: String
    let min: Int
    /// `Int.max` for `*`.
    let max: Int
    /// The allowed type codes (several only for a choice element); empty for a backbone element.
    let types: [String]
    let isChoice: Bool
    /// The node that defines a backbone element's members (its own path, or a contentReference's).
    let node: String?
    /// Index of the required binding's value set in `R4Tables.valueSets`.
    let valueSet: Int?
}

extension FHIRValidator {
    /// A JSON key of an object: the element, and the type its name selects.
    fileprivate struct Member: Sendable {
        let element: R4Element
        let type: String
    }

    /// A type or backbone element: its members by JSON key (each choice type under its own key).
    fileprivate struct Node: Sendable {
        var members: [String: Member] = [:]
        var required: [R4Element] = []
    }

    fileprivate enum JSONType: Sendable { case string, number, boolean }

    fileprivate struct Primitive: @unchecked Sendable {   // NSRegularExpression is immutable and thread-safe
        let json: JSONType
        /// The table's regex (Java syntax; "" for none).
        let pattern: String
        /// The hand-written scanner for `pattern` (FHIRPrimitiveFormat.swift): every R4 string primitive has one.
        let format: FHIRPrimitiveFormat?
        /// `pattern` compiled, only when there is no scanner for it (a table regenerated with another regex).
        let regex: NSRegularExpression?

        func matches(_ text: String) -> Bool {
            if let format { return format.matches(text) }
            guard let regex else { return !text.isEmpty }
            let range = NSRange(text.startIndex..., in: text)
            return regex.firstMatch(in: text, options: [], range: range) != nil
        }
    }

    fileprivate struct ValueSet: Sendable {
        let url: String
        let bySystem: [String: Set<String>]
        let all: Set<String>
    }

    /// The definitions of `R4Definitions.table`, parsed once.
    fileprivate struct R4Tables: Sendable {
        static let shared = R4Tables(R4Definitions.table)

        var primitives: [String: Primitive] = [:]
        var nodes: [String: Node] = [:]
        var resourceTypes: Set<String> = []
        var valueSets: [Int: ValueSet] = [:]
        var unexpanded: [String] = []

        func isPrimitive(_ type: String) -> Bool { primitives[type] != nil }

        init(_ table: String) {
            var elements: [(path: String, element: R4Element)] = []
            var valueSetURL: [Int: String] = [:]
            var valueSetCodes: [Int: [String: Set<String>]] = [:]
            var currentSet: Int?
            for line in table.split(separator: "\n", omittingEmptySubsequences: true) {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                switch fields[0] {
                case "P":
                    let json: JSONType = fields[2] == "b" ? .boolean : fields[2] == "n" ? .number : .string
                    let pattern = fields[3]
                    let format = json == .string ? FHIRPrimitiveFormat(pattern: pattern) : nil
                    var regex: NSRegularExpression?
                    if !pattern.isEmpty, format == nil {
                        do { regex = try NSRegularExpression(pattern: Self.icuPattern(pattern)) } catch {
                            preconditionFailure("the generated regex of \(fields[1]) does not compile: \(error)")
                        }
                    }
                    primitives[fields[1]] = Primitive(json: json, pattern: pattern, format: format, regex: regex)
                case "V":
                    currentSet = Int(fields[1])
                    if let currentSet { valueSetURL[currentSet] = fields[2] }
                case "S":
                    if let currentSet { valueSetCodes[currentSet, default: [:]][fields[1], default: []].formUnion(fields[2...]) }
                case "X":
                    unexpanded.append(fields[1])
                case "T":
                    if fields[2] == "r" { resourceTypes.insert(fields[1]) }
                    nodes[fields[1]] = Node()
                case "E":
                    let path = fields[1]
                    var name = String(path[path.index(after: path.lastIndex(of: ".")!)...])
                    let isChoice = name.hasSuffix("[x]")
                    if isChoice { name.removeLast(3) }
                    let typeField = fields[4]
                    let types = typeField.isEmpty || typeField.hasPrefix("@") ? [] : typeField.split(separator: "|").map(String.init)
                    let node: String? = typeField.isEmpty ? path : typeField.hasPrefix("@") ? String(typeField.dropFirst()) : nil
                    let element = R4Element(name: name, min: Int(fields[2]) ?? 0, max: fields[3] == "*" ? Int.max : Int(fields[3]) ?? 1,
                                            types: types, isChoice: isChoice, node: node, valueSet: Int(fields[5]))
                    elements.append((path, element))
                default:
                    continue   // the comment line
                }
            }
            for (index, url) in valueSetURL {
                let codes = valueSetCodes[index] ?? [:]
                valueSets[index] = ValueSet(url: url, bySystem: codes, all: codes.values.reduce(into: Set<String>()) { $0.formUnion($1) })
            }
            for (path, element) in elements {
                let parent = String(path[..<path.lastIndex(of: ".")!])
                var node = nodes[parent] ?? Node()
                if element.node != nil {
                    node.members[element.name] = Member(element: element, type: "")
                } else if element.isChoice {
                    for type in element.types { node.members[element.name + Self.capitalized(type)] = Member(element: element, type: type) }
                } else if let type = element.types.first {
                    node.members[element.name] = Member(element: element, type: type)
                }
                if element.min > 0 { node.required.append(element) }
                nodes[parent] = node
            }
        }

        /// `pattern` anchored at both ends, as the checks mean it, with Java's whitespace.
        static func icuPattern(_ pattern: String) -> String { "^(?:\(javaWhitespace(pattern)))\\z" }

        /// The FHIR regexes are Java's, where `\s` is ASCII whitespace only; ICU's `\s` is Unicode's (a no-break
        /// space would not be `\S`), so both are spelled out.
        static func javaWhitespace(_ pattern: String) -> String {
            pattern.replacingOccurrences(of: #"[^\s]"#, with: #"[^ \t\n\x0B\f\r]"#)
                .replacingOccurrences(of: #"\s"#, with: #"[ \t\n\x0B\f\r]"#)
                .replacingOccurrences(of: #"\S"#, with: #"[^ \t\n\x0B\f\r]"#)
        }

        static func capitalized(_ type: String) -> String { type.prefix(1).uppercased() + type.dropFirst() }

        /// "a string", "a number", "a boolean", "an object", "an array" or "null", for messages and checks.
        static func jsonKind(_ value: Any) -> String { kind(value).rawValue }

        enum Kind: String { case boolean = "a boolean", number = "a number", string = "a string", object = "an object", array = "an array",
                                 null = "null", unknown = "an unknown value" }

        static let objectType: Any.Type = [String: Any].self
        static let arrayType: Any.Type = [Any].self

        /// A value's JSON kind.
        static func kind(_ value: Any) -> Kind {
            let dynamic = type(of: value)
            // The parser's strings, objects and arrays by their exact type first (the same answers, sooner): on
            // Linux, `is NSNull` or `as? NSNumber` of a Swift collection first bridges all of it to Foundation.
            if dynamic == String.self { return .string }
            if dynamic == objectType { return .object }
            if dynamic == arrayType { return .array }
            if dynamic == Bool.self { return .boolean }
            if dynamic == Int.self || dynamic == Double.self || dynamic == Int64.self { return .number }
            if dynamic is NSNumber.Type, let number = value as? NSNumber { return number.objCType.pointee == 99 ? .boolean : .number }   // "c"
            if dynamic is NSNull.Type { return .null }
            if value is String { return .string }
            if value is [String: Any] { return .object }
            if value is [Any] { return .array }
            if value is NSNull { return .null }
            if let number = value as? NSNumber { return number.objCType.pointee == 99 ? .boolean : .number }   // "c"
            return .unknown
        }

        /// `value is NSNull`, without bridging a collection to find out.
        static func isNull(_ value: Any) -> Bool { kind(value) == .null }

        /// A JSON number's value: as an integer when it was written without fraction or exponent.
        static func number(_ value: Any) -> (double: Double, integer: Int64?)? {
            if type(of: value) == Int.self, let integer = value as? Int { return (Double(integer), Int64(integer)) }
            if type(of: value) == Double.self, let double = value as? Double { return (double, nil) }
            guard let number = value as? NSNumber else { return nil }
            switch number.objCType.pointee {
            case 100, 102: return (number.doubleValue, nil)   // "d", "f"
            default: return (number.doubleValue, number.int64Value)
            }
        }
    }
}

// MARK: - The fast path

extension FHIRValidator {
    /// Whether `resource` has no issue at all, decided without building expressions, messages, sorted
    /// key lists or choice dictionaries, on tables resolved once (`Compiled`): the walk of `Run` with
    /// every report replaced by “no”. `validate` runs `Run` only for a resource it says no to, so the
    /// issues (and their order) are `Run`'s by construction; this walk only has to say yes exactly when
    /// `Run` would report nothing (FHIRValidationTests' invalid cases and planted unknown members check
    /// the no side through `validate`, `ProbeAgreementTests` both sides).
    fileprivate struct Probe {
        let compiled: Compiled

        func resource(_ object: [String: Any], depth: Int) -> Bool {
            guard let type = object["resourceType"] as? String, let node = compiled.resources[type] else { return false }
            return self.object(object, node: node, depth: depth, isResource: true)
        }

        func object(_ object: [String: Any], node: CompiledNode, depth: Int, isResource: Bool = false) -> Bool {
            guard depth <= FHIRValidator.depthLimit, !object.isEmpty else { return false }
            var seenChoices: UInt64 = 0, seenRequired: UInt64 = 0
            for (key, value) in object {
                if isResource, key == "resourceType" { continue }
                if key.utf8.first == UInt8(ascii: "_") {
                    guard let member = node.extensionMembers[key] else { return false }
                    seenRequired |= member.requiredBit
                    guard primitiveExtension(value, member: member, object: object, depth: depth) else { return false }
                    continue
                }
                guard let member = node.members[key] else { return false }
                if member.choiceBit != 0 {
                    guard seenChoices & member.choiceBit == 0 else { return false }
                    seenChoices |= member.choiceBit
                }
                seenRequired |= member.requiredBit
                if member.repeats {
                    guard let list = value as? [Any], !list.isEmpty, list.count <= member.max else { return false }
                    var extensions: [Any]??
                    for (index, item) in list.enumerated() {
                        if R4Tables.isNull(item) {
                            // `Run` accepts a null only in place of a primitive whose `_key` item is not null.
                            guard member.primitive != nil else { return false }
                            if extensions == nil { extensions = .some(object[member.extensionKey] as? [Any]) }
                            guard let items = extensions!, index < items.count, !R4Tables.isNull(items[index]) else { return false }
                            continue
                        }
                        guard self.value(item, member: member, depth: depth) else { return false }
                    }
                } else {
                    guard R4Tables.kind(value) != .array, self.value(value, member: member, depth: depth) else { return false }
                }
            }
            return seenRequired == node.requiredMask
        }

        func primitiveExtension(_ value: Any, member: CompiledMember, object: [String: Any], depth: Int) -> Bool {
            guard let elementNode = compiled.element else { return true }   // as `Run`: nothing to check them against
            if member.repeats {
                guard let list = value as? [Any] else { return false }
                if let values = object[member.key] as? [Any], values.count != list.count { return false }
                for item in list where !R4Tables.isNull(item) {
                    guard let extensions = item as? [String: Any], self.object(extensions, node: elementNode, depth: depth + 1) else { return false }
                }
                return true
            }
            guard let extensions = value as? [String: Any] else { return false }
            return self.object(extensions, node: elementNode, depth: depth + 1)
        }

        func value(_ value: Any, member: CompiledMember, depth: Int) -> Bool {
            if let primitive = member.primitive { return self.primitive(value, primitive: primitive, member: member) }
            guard let object = value as? [String: Any] else { return false }
            if member.isResource { return resource(object, depth: depth + 1) }
            guard let node = member.node else { return true }   // `Run` does not look into a type without a definition
            guard self.object(object, node: node, depth: depth + 1) else { return false }
            if let valueSet = member.valueSet, !coded(object, coding: member.isCoding, valueSet: valueSet) { return false }
            if member.isReference, let reference = object["reference"] as? String, !reference.isEmpty,
               !FHIRJSON.isValidReference(reference) { return false }
            return true
        }

        func primitive(_ value: Any, primitive: Primitive, member: CompiledMember) -> Bool {
            switch primitive.json {
            case .string:
                guard R4Tables.kind(value) == .string, let text = value as? String, primitive.matches(text) else { return false }
                if let valueSet = member.valueSet { return valueSet.all.contains(text) }
                return true
            case .boolean:
                return R4Tables.kind(value) == .boolean
            case .number:
                guard R4Tables.kind(value) == .number, let number = R4Tables.number(value) else { return false }
                switch member.number {
                case .decimal: return number.double.isFinite
                case .integer, .positive, .unsigned:
                    guard let integer = number.integer, (-2_147_483_648...2_147_483_647).contains(integer) else { return false }
                    return member.number == .positive ? integer >= 1 : member.number == .unsigned ? integer >= 0 : true
                }
            }
        }

        /// `Run.coded` without reports: a Coding, or a CodeableConcept's codings (only when
        /// `coding` is false and the member is a CodeableConcept: `Compiled` leaves other types' value sets out).
        func coded(_ object: [String: Any], coding: Bool, valueSet set: ValueSet) -> Bool {
            var matched = false, anyCode = false
            func check(_ coding: [String: Any]) -> Bool {
                guard let codeValue = coding["code"] else { return true }
                anyCode = true
                guard let code = codeValue as? String else { return true }
                let system = coding["system"] as? String
                if let system, let codes = set.bySystem[system] {
                    guard codes.contains(code) else { return false }
                    matched = true
                } else if system == nil, set.all.contains(code) {
                    matched = true
                }
                return true
            }
            if coding {
                guard check(object) else { return false }
            } else {
                guard let list = object["coding"] as? [Any] else { return true }
                for item in list {
                    guard let coding = item as? [String: Any] else { continue }
                    guard check(coding) else { return false }
                }
            }
            return matched || !anyCode
        }
    }

    /// A member of a `CompiledNode`: its element's facts resolved once (the nodes, primitive and value set it uses).
    fileprivate final class CompiledMember: @unchecked Sendable {   // immutable after `Compiled.init`
        enum Number { case decimal, integer, positive, unsigned }

        /// The JSON key (`valueQuantity`), and the key of its extensions (`_valueQuantity`).
        let key: String
        let extensionKey: String
        let repeats: Bool
        let max: Int
        let primitive: Primitive?
        let number: Number
        var node: CompiledNode?
        let isResource: Bool
        let isReference: Bool
        let isCoding: Bool
        /// The required binding, for a code, Coding or CodeableConcept.
        let valueSet: ValueSet?
        /// This member's element's bit in its node's `requiredMask` (0 when it is optional).
        let requiredBit: UInt64
        /// This member's choice element's bit in its node (0 when it is not a choice).
        let choiceBit: UInt64

        init(key: String, member: Member, primitive: Primitive?, valueSet: ValueSet?, requiredBit: UInt64, choiceBit: UInt64) {
            let type = member.type
            self.key = key
            extensionKey = "_" + key
            repeats = member.element.max > 1
            max = member.element.max
            self.primitive = primitive
            number = type == "decimal" ? .decimal : type == "positiveInt" ? .positive : type == "unsignedInt" ? .unsigned : .integer
            isResource = type == "Resource"
            isReference = type == "Reference"
            isCoding = type == "Coding"
            // `Run.coded` checks Codings and CodeableConcepts only; a primitive's value set is checked as a code.
            self.valueSet = primitive != nil || type == "Coding" || type == "CodeableConcept" ? valueSet : nil
            self.requiredBit = requiredBit
            self.choiceBit = choiceBit
        }
    }

    fileprivate final class CompiledNode: @unchecked Sendable {   // immutable after `Compiled.init`
        var members: [String: CompiledMember] = [:]
        /// `_key` → the primitive member `key` (other `_` keys are unknown elements).
        var extensionMembers: [String: CompiledMember] = [:]
        /// One bit for each required element.
        var requiredMask: UInt64 = 0
    }

    /// `R4Tables` resolved for `Probe`: each member knows its node, primitive and value set.
    fileprivate struct Compiled: Sendable {
        static let shared = Compiled(R4Tables.shared)

        /// Concrete resource types.
        let resources: [String: CompiledNode]
        /// The node of `_key` objects.
        let element: CompiledNode?

        init(_ tables: R4Tables) {
            var nodes: [String: CompiledNode] = [:]
            for name in tables.nodes.keys { nodes[name] = CompiledNode() }
            for (name, node) in tables.nodes {
                let compiled = nodes[name]!
                var requiredBits: [String: UInt64] = [:]
                for element in node.required where requiredBits[element.name] == nil {
                    precondition(requiredBits.count < 64, "\(name) has more than 64 required elements")
                    requiredBits[element.name] = 1 << UInt64(requiredBits.count)
                }
                compiled.requiredMask = requiredBits.values.reduce(0, |)
                var choiceBits: [String: UInt64] = [:]
                for (key, member) in node.members.sorted(by: { $0.key < $1.key }) {
                    let element = member.element
                    var choiceBit: UInt64 = 0
                    if element.isChoice {
                        if choiceBits[element.name] == nil {
                            precondition(choiceBits.count < 64, "\(name) has more than 64 choice elements")
                            choiceBits[element.name] = 1 << UInt64(choiceBits.count)
                        }
                        choiceBit = choiceBits[element.name]!
                    }
                    let primitive = tables.primitives[member.type]
                    let compiledMember = CompiledMember(key: key, member: member, primitive: primitive,
                                                        valueSet: element.valueSet.flatMap { tables.valueSets[$0] },
                                                        requiredBit: requiredBits[element.name] ?? 0, choiceBit: choiceBit)
                    if primitive == nil, member.type != "Resource" { compiledMember.node = nodes[element.node ?? member.type] }
                    compiled.members[key] = compiledMember
                    if primitive != nil { compiled.extensionMembers["_" + key] = compiledMember }
                }
            }
            resources = nodes.filter { tables.resourceTypes.contains($0.key) }
            element = nodes["Element"]
        }
    }
}
