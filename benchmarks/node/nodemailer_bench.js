// Nodemailer pooled SMTP throughput against a sink:
//   node nodemailer_bench.js PORT COUNT CONNECTIONS [same|unique] [RECIPIENTS]
// "same" (the default) shares one text, html and attachment across messages; "unique" gives
// every message its own (a real merge, as benchmarks/_common.py unique_message does).
// Prints one JSON line: {"sent": N, "seconds": S, "cpu_ms": C}.
"use strict";
const nodemailer = require("nodemailer");
const crypto = require("crypto");

const [port, count, connections] = process.argv.slice(2, 5).map(Number);
const unique = process.argv[5] === "unique";
const recipients = Number(process.argv[6] || 1);
const attachment = crypto.randomBytes(20 * 1024);
const text = "Hello,\n\nThis is the daily report.\n".repeat(60);
const html = "<p>Hello,</p><p>This is the <b>daily</b> report.</p>\n".repeat(60);

const transport = nodemailer.createTransport({
  host: "127.0.0.1",
  port,
  secure: false,
  ignoreTLS: true,
  pool: true,
  maxConnections: connections,
  maxMessages: Infinity,
});

function uniqueAttachment(i) {
  const tail = Buffer.alloc(8);
  tail.writeBigInt64BE(BigInt(i));
  return Buffer.concat([attachment.subarray(0, attachment.length - 8), tail]);
}

function message(i) {
  const to =
    recipients === 1
      ? `user${i}@example.com`
      : Array.from({ length: recipients }, (_, k) => `user${i}-${k}@example.com`);
  if (!unique) {
    return {
      from: "Reports <reports@example.com>",
      to,
      subject: `Daily report ${i}`,
      text,
      html,
      attachments: [{ filename: "report.bin", content: attachment }],
    };
  }
  const tail = `\nReference ${i}.\n`;
  return {
    from: "Reports <reports@example.com>",
    to,
    subject: `Daily report ${i}`,
    text: text + tail,
    html: html + `<p>${tail}</p>`,
    attachments: [{ filename: `report-${i}.bin`, content: uniqueAttachment(i) }],
  };
}

async function main() {
  await transport.sendMail(message(-1)); // warm up the pool
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      await transport.sendMail(message(i));
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  transport.close();
  console.log(JSON.stringify({ sent: count, seconds, cpu_ms: (cpu.user + cpu.system) / 1000 }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
