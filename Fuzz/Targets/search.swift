import FHIR
import Foundation

// libFuzzer target `search`: the FHIR search-query parser, `SearchQuery(type:pairs:strict:)` (Sources/FHIR/SearchQuery.swift),
// built by Fuzz/run with FHIR instrumented. An input is `Type?query`: the query string is split into pairs as the
// server splits a URL's query or a form body (SearchQuery.formPairs, as FHIRRoutes does), then parsed strictly and leniently. Every
// query the strict parser accepts, the lenient one accepts the same way and ignores nothing; whatever is accepted
// stays within the parser's limits.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSearch(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: data == nil ? 0 : size), as: UTF8.self)
    let (type, query) = text.firstIndex(of: "?").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (text, "")
    let pairs = SearchQuery.formPairs(query)
    let strict = try? SearchQuery(type: type, pairs: pairs, strict: true)
    let lenient = try? SearchQuery(type: type, pairs: pairs, strict: false)
    for query in [strict, lenient].compactMap(\.self) {
        fuzzCheck(query.type == type, "the query names another type")
        fuzzCheck(query.criteria.count <= SearchQuery.criteriaMax, "more criteria than criteriaMax")
        fuzzCheck((0...SearchQuery.countMax).contains(query.count), "_count outside 0…countMax")
        fuzzCheck(query.offset >= 0 && query.sort.count <= SearchQuery.sortKeysMax, "offset or sort out of range")
        fuzzCheck((query.elements?.count ?? 0) <= SearchQuery.elementsMax, "more _elements than elementsMax")
        for criterion in query.criteria + query.criteria.flatMap({ $0.chain?.inner ?? [] }) {
            fuzzCheck(criterion.values.count <= SearchQuery.valuesMax, "more values than valuesMax")
        }
    }
    if let strict {
        guard let lenient else { fatalError("a query accepted strictly is refused leniently") }
        fuzzCheck(lenient.ignored.isEmpty, "a query accepted strictly has parameters the lenient parser ignores")
        fuzzCheck(lenient.criteria.count == strict.criteria.count && lenient.sort == strict.sort && lenient.count == strict.count
                     && lenient.offset == strict.offset && lenient.elements == strict.elements && lenient.summary == strict.summary,
                     "the strict and lenient parsers read one query differently")
    }
    return 0
}

/// Stops the fuzzer with `message` when `condition` is false (a precondition's message is dropped in -O builds).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
