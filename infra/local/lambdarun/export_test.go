package lambdarun

// ParseErrorBody exposes the /error body parser to the fuzz test.
var ParseErrorBody = parseErrorBody
