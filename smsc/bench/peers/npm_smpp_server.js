// The npm `smpp` 0.5.1 server as a bench peer (issue 13): what a user could pick instead of
// our operator SMSC. It accepts any bind, answers submit_sm with a message_id from a counter,
// enquire_link and unbind; with --receipts it also sends a DELIVRD receipt (deliver_sm,
// esm_class 0x04) when the submit asks for one (registered_delivery).
//
//   NODE_PATH=CACHE/node_modules node npm_smpp_server.js [--host 127.0.0.1] [--port 0] [--receipts]
//
// First stdout line: `npm-smpp: SMPP on HOST:PORT` (the bench reads the port from it).
// SIGTERM and SIGINT stop it with exit status 0. Started by smsc/bench/peers/__init__.py.
'use strict';
const smpp = require('smpp');

function option(name, fallback) {
	const i = process.argv.indexOf(name);
	return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option('--host', '127.0.0.1');
const port = parseInt(option('--port', '0'), 10);
const receipts = process.argv.includes('--receipts');
let counter = 0;

const server = smpp.createServer(function (session) {
	// Errors of one connection (a peer that resets) end that connection, not the server.
	session.on('error', function () { session.destroy(); });
	for (const bind of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
		session.on(bind, function (pdu) { session.send(pdu.response()); });
	}
	session.on('enquire_link', function (pdu) { session.send(pdu.response()); });
	session.on('unbind', function (pdu) { session.send(pdu.response()); session.close(); });
	session.on('submit_sm', function (pdu) {
		counter += 1;
		const id = counter.toString(16);
		session.send(pdu.response({ message_id: id }));
		if (receipts && (pdu.registered_delivery & 0x03) === 1) {
			session.deliver_sm({
				source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 0x04,
				short_message: 'id:' + id + ' sub:001 dlvrd:001 submit date:0000000000 done date:0000000000'
					+ ' stat:DELIVRD err:000 text:',
				receipted_message_id: id, message_state: 2,
			});
		}
	});
	// Anything else that asks for an answer gets generic_nack, as SMPP 3.4 §4.3 says.
	session.on('pdu', function (pdu) {
		const known = ['bind_transceiver', 'bind_transmitter', 'bind_receiver', 'enquire_link', 'unbind',
			'submit_sm'];
		if (!pdu.isResponse() && !known.includes(pdu.command)) {
			session.send(new smpp.PDU('generic_nack', { sequence_number: pdu.sequence_number,
				command_status: smpp.ESME_RINVCMDID }));
		}
	});
});

server.listen(port, host, function () {
	const address = server.address();
	process.stdout.write('npm-smpp: SMPP on ' + address.address + ':' + address.port + '\n');
});

function stop() {
	server.close();
	process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
