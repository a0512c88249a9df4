"""The Voice table as synthesis 0001-0003 left it, in one step.

Replaces those three migrations: a database that applied them all carries on as it is; a fresh
one creates the table at once. A database part-way through them must first migrate with a
release that still has them (docs/architecture.md, decisions).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    replaces = [
        ("synthesis", "0001_initial"),
        ("synthesis", "0002_voice_options_help"),
        ("synthesis", "0003_voice_piper_and_noise_vocoders"),
    ]

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Voice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('description', models.TextField(blank=True)),
                ('engine', models.CharField(choices=[('tacotron2', 'Tacotron2 + vocoder'), ('espeak', 'eSpeak NG (formant synthesis, no weights)'), ('piper', 'Piper (VITS, ONNX)')], max_length=16)),
                ('is_active', models.BooleanField(default=True)),
                ('acoustic_file', models.FileField(blank=True, upload_to='checkpoints/acoustic/')),
                ('acoustic_path', models.CharField(blank=True, max_length=500)),
                ('acoustic_url', models.URLField(blank=True, max_length=500)),
                ('acoustic_sha256', models.CharField(blank=True, max_length=64)),
                ('acoustic_bundle', models.CharField(blank=True, help_text='A torchaudio pipeline bundle, e.g. TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.', max_length=100)),
                ('symbol_set', models.CharField(choices=[('auto', 'Detect from the checkpoint'), ('nvidia', 'NVIDIA Tacotron2 (148 symbols, ARPAbet in {braces})'), ('torchaudio', 'torchaudio characters (38 symbols)')], default='auto', max_length=16)),
                ('vocoder', models.CharField(choices=[('griffinlim', 'Griffin-Lim (no weights)'), ('hifigan', 'HiFi-GAN generator'), ('waveglow', 'WaveGlow (NVIDIA)'), ('pwg', 'Parallel WaveGAN')], default='griffinlim', max_length=16)),
                ('vocoder_file', models.FileField(blank=True, upload_to='checkpoints/vocoder/')),
                ('vocoder_path', models.CharField(blank=True, max_length=500)),
                ('vocoder_url', models.URLField(blank=True, max_length=500)),
                ('vocoder_sha256', models.CharField(blank=True, max_length=64)),
                ('vocoder_config', models.JSONField(blank=True, default=dict, help_text='HiFi-GAN config.json (inferred when empty) or Parallel WaveGAN config.yml as JSON (read from beside a worker path when empty).')),
                ('espeak_voice', models.CharField(blank=True, default='en-us', max_length=50)),
                ('espeak_rate_wpm', models.PositiveSmallIntegerField(default=165)),
                ('options', models.JSONField(blank=True, default=dict, help_text='Synthesizer options: gate_threshold, max_decoder_steps, decoder_steps_per_char, max_batch_frames, max_batch_items, griffinlim_iters, waveglow_sigma, cpu_bf16, ignore_stop_token. Piper: noise_scale, length_scale, noise_w, max_batch_items.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('piper_bundle', models.CharField(blank=True, choices=[('', 'None'), ('en_US-joe-medium', 'en_US-joe-medium (installed with Harken)')], default='', max_length=50)),
                ('piper_config_file', models.FileField(blank=True, upload_to='checkpoints/piper/')),
                ('piper_config_sha256', models.CharField(blank=True, max_length=64)),
                ('piper_config_url', models.URLField(blank=True, max_length=500)),
                ('piper_model_file', models.FileField(blank=True, upload_to='checkpoints/piper/')),
                ('piper_model_path', models.CharField(blank=True, help_text='The .onnx on the worker; its .onnx.json beside it.', max_length=500)),
                ('piper_model_sha256', models.CharField(blank=True, max_length=64)),
                ('piper_model_url', models.URLField(blank=True, max_length=500)),
                ('piper_speaker', models.CharField(blank=True, help_text="Multi-speaker voices: a speaker id or a name of the voice's speaker_id_map.", max_length=100)),
            ],
            options={
                'ordering': ['name'],
                'constraints': [models.CheckConstraint(condition=models.Q(('acoustic_url', ''), models.Q(('acoustic_sha256', ''), _negated=True), _connector='OR'), name='voice_acoustic_url_needs_sha256'), models.CheckConstraint(condition=models.Q(('vocoder_url', ''), models.Q(('vocoder_sha256', ''), _negated=True), _connector='OR'), name='voice_vocoder_url_needs_sha256'), models.CheckConstraint(condition=models.Q(('piper_model_url', ''), models.Q(models.Q(('piper_model_sha256', ''), _negated=True), models.Q(('piper_config_url', ''), _negated=True), models.Q(('piper_config_sha256', ''), _negated=True)), _connector='OR'), name='voice_piper_url_needs_config_and_sha256s')],
            },
        ),
    ]
