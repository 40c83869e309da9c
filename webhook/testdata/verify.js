// verify.js checks webhooks with the Standard Webhooks reference library
// (npm package standardwebhooks), for webhook/interop_test.go.
//
// Input on stdin, JSON: a list of {"secret", "headers", "body"} with the
// body in base64. Output on stdout, JSON: for each, "ok" or
// "rejected: " and the library's reason.
"use strict";
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((c) => {
    try {
      // jsonParse false: a message/rfc822 body is not JSON.
      new Webhook(c.secret).verify(Buffer.from(c.body, "base64"), c.headers, { jsonParse: false });
      return "ok";
    } catch (e) {
      return "rejected: " + e.message;
    }
  });
  process.stdout.write(JSON.stringify(results));
});
