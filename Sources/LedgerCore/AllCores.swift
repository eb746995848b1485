import Dispatch

/// CPU-bound work spread over every core with Dispatch, results kept in input order. Call it from
/// a Dispatch thread (it blocks until done), not from the cooperative pool.
public enum AllCores {
    /// `transform` of every element, `chunk` elements per work item (big enough to amortize
    /// dispatch when each call is cheap). Elements are only read, so parsed JSON may be passed.
    public static func map<Element, Output>(_ items: [Element], chunk: Int = 1, _ transform: (Element) -> Output) -> [Output] {
        precondition(chunk >= 1, "chunk must be at least 1")
        if items.count <= chunk { return items.map(transform) }
        var results = [Output?](repeating: nil, count: items.count)
        withoutActuallyEscaping(transform) { transform in
            results.withUnsafeMutableBufferPointer { buffer in
                // The work items only read `items` and call `transform`; each writes its own indexes.
                nonisolated(unsafe) let (out, items, transform) = (buffer, items, transform)
                DispatchQueue.concurrentPerform(iterations: (items.count + chunk - 1) / chunk) { part in
                    for index in part * chunk..<min(part * chunk + chunk, items.count) { out[index] = transform(items[index]) }
                }
            }
        }
        return results.map { $0! }
    }
}
