"""Studies, clips, playlists, listeners, ratings and reports as listening 0001-0004 left them.

Replaces those four migrations (the schema that shipped before trials): a database that
applied them all carries on as it is; a fresh one creates the tables at once. 0004's data
step (a listener's attempt id read from platform_params) is not repeated here: only an empty
database runs this migration, since one part-way through 0001-0004 must first finish them with
a release that still has them (docs/architecture.md, decisions).
"""

import django.core.validators
import django.db.models.deletion
import listening.models.studies
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    replaces = [
        ("listening", "0001_initial"),
        ("listening", "0002_attention_sentences"),
        ("listening", "0003_reports_and_objective_cache"),
        ("listening", "0004_leases_listener_path_provenance_recipes"),
    ]

    initial = True

    dependencies = [
        ('synthesis', '0001_squashed_0003_voice'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Study',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('slug', models.SlugField(max_length=64, unique=True)),
                ('title', models.CharField(max_length=200)),
                ('instructions', models.TextField(blank=True, help_text='Markdown, shown to listeners with the consent form.')),
                ('consent_text', models.TextField(blank=True, help_text='Markdown.')),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('synthesizing', 'Synthesising'), ('ready', 'Ready'), ('open', 'Open'), ('paused', 'Paused'), ('closed', 'Closed')], default='draft', max_length=16)),
                ('listed_publicly', models.BooleanField(default=False, help_text='List the test link on the public home page (demo studies).')),
                ('open_when_ready', models.BooleanField(default=False, help_text='Open the test as soon as every clip is synthesised.')),
                ('ratings_per_clip', models.PositiveSmallIntegerField(default=8, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(200)])),
                ('clips_per_listener', models.PositiveSmallIntegerField(default=20, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(500)])),
                ('clips_per_page', models.PositiveSmallIntegerField(default=1, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10)])),
                ('training_clips', models.PositiveSmallIntegerField(default=3, validators=[django.core.validators.MaxValueValidator(20)])),
                ('attention_check_rate', models.FloatField(default=0.1, help_text='Share of extra pages that are gold or repeated clips (P.808 practice).', validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(0.5)])),
                ('max_attention_failures', models.PositiveSmallIntegerField(default=1, help_text='A listener failing more attention checks than this is flagged.')),
                ('questionnaire_enabled', models.BooleanField(default=True)),
                ('headphone_check_enabled', models.BooleanField(default=True)),
                ('listener_timeout_minutes', models.PositiveIntegerField(default=60, validators=[django.core.validators.MinValueValidator(5)])),
                ('screening', models.JSONField(blank=True, default=listening.models.studies.default_screening)),
                ('completion_code', models.CharField(blank=True, max_length=64)),
                ('completion_url', models.URLField(blank=True, help_text='e.g. https://app.prolific.com/submissions/complete?cc=CODE')),
                ('sample_rate', models.PositiveIntegerField(default=22050)),
                ('loudness_target_lufs', models.FloatField(default=-26.0, validators=[django.core.validators.MinValueValidator(-60.0), django.core.validators.MaxValueValidator(-5.0)])),
                ('design_seed', models.BigIntegerField(default=listening.models.studies.new_seed)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('opened_at', models.DateTimeField(blank=True, null=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('claim_idle_minutes', models.PositiveSmallIntegerField(default=10, help_text='A place claimed by a listener who rates nothing for this many minutes goes back to the pool.', validators=[django.core.validators.MinValueValidator(2), django.core.validators.MaxValueValidator(120)])),
                ('pay_currency', models.CharField(blank=True, help_text='ISO 4217 code of the pay, e.g. GBP, USD, EUR.', max_length=3)),
                ('pay_per_hour', models.DecimalField(blank=True, decimal_places=2, help_text='What listeners were paid per hour of work.', max_digits=8, null=True, validators=[django.core.validators.MinValueValidator(0)])),
                ('question', models.CharField(blank=True, help_text='What listeners rate, shown on every rating page (e.g. How natural does the speech sound?). Empty: the quality question of ITU-T P.808.', max_length=200)),
                ('recruitment_filters', models.TextField(blank=True, help_text="The platform's screeners, e.g. first language English, UK/US, approval ≥ 95%.")),
                ('recruitment_platforms', models.CharField(blank=True, help_text='Where listeners were recruited, e.g. Prolific.', max_length=200)),
                ('screenout_code', models.CharField(blank=True, help_text='Shown to a listener who fails the headphone check (Prolific: screen-out).', max_length=64)),
                ('screenout_url', models.URLField(blank=True, help_text='Where a listener who fails the headphone check is sent to, if anywhere.')),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='studies', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name_plural': 'studies',
                'ordering': ['-created_at'],
                'constraints': [
                    models.CheckConstraint(condition=models.Q(('ratings_per_clip__gte', 1)), name='study_ratings_per_clip_positive'),
                    models.CheckConstraint(condition=models.Q(('clips_per_listener__gte', 1)), name='study_clips_per_listener_positive'),
                    models.CheckConstraint(condition=models.Q(('attention_check_rate__gte', 0), ('attention_check_rate__lte', 0.5)), name='study_attention_rate_range'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Sentence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=64, validators=[django.core.validators.RegexValidator('^[A-Za-z0-9_.\\-]+$', 'Letters, digits, _ . - only.')])),
                ('text', models.TextField()),
                ('position', models.PositiveIntegerField(default=0)),
                ('expected_score', models.PositiveSmallIntegerField(blank=True, help_text="Set only for attention-check sentences: a spoken instruction such as 'Please select Poor' whose correct answer is this score. They are never test items.", null=True)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sentences', to='listening.study')),
            ],
            options={
                'ordering': ['study', 'position', 'key'],
                'constraints': [
                    models.UniqueConstraint(fields=('study', 'key'), name='sentence_key_unique_per_study'),
                    models.CheckConstraint(condition=models.Q(('expected_score__isnull', True), models.Q(('expected_score__gte', 1), ('expected_score__lte', 5)), _connector='OR'), name='sentence_expected_score_range'),
                ],
            },
        ),
        migrations.CreateModel(
            name='System',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('kind', models.CharField(choices=[('voice', 'Synthesised with a voice'), ('uploaded', 'Uploaded audio'), ('reference', 'Natural reference'), ('anchor', 'Anchor (MNRU)')], max_length=16)),
                ('anchor_q_db', models.FloatField(blank=True, help_text='MNRU Q in dB (ITU-T P.810).', null=True)),
                ('is_low_anchor', models.BooleanField(default=False)),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('anchor_source', models.ForeignKey(blank=True, help_text="MNRU anchors are derived from this system's clips.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='anchors', to='listening.system')),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='systems', to='listening.study')),
                ('voice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='systems', to='synthesis.voice')),
            ],
            options={
                'ordering': ['study', 'position', 'id'],
                'constraints': [
                    models.UniqueConstraint(fields=('study', 'name'), name='system_name_unique_per_study'),
                    models.CheckConstraint(condition=models.Q(models.Q(('kind', 'voice'), _negated=True), ('voice__isnull', False), _connector='OR'), name='system_voice_kind_has_voice'),
                    models.CheckConstraint(condition=models.Q(models.Q(('kind', 'anchor'), _negated=True), models.Q(('anchor_source__isnull', False), ('anchor_q_db__isnull', False)), _connector='OR'), name='system_anchor_has_source_and_q'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Clip',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.CharField(default=listening.models.studies.new_token, editable=False, max_length=32, unique=True)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('ready', 'Ready'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('audio', models.FileField(blank=True, max_length=255, upload_to=listening.models.studies.clip_upload_to)),
                ('duration_s', models.FloatField(blank=True, null=True)),
                ('sample_rate', models.PositiveIntegerField(blank=True, null=True)),
                ('loudness_lufs', models.FloatField(blank=True, null=True)),
                ('peak_dbfs', models.FloatField(blank=True, null=True)),
                ('clipped', models.BooleanField(default=False)),
                ('error', models.TextField(blank=True)),
                ('seed', models.BigIntegerField(default=listening.models.studies.new_seed)),
                ('synthesis_seconds', models.FloatField(blank=True, null=True)),
                ('real_time_factor', models.FloatField(blank=True, null=True)),
                ('device', models.CharField(blank=True, max_length=32)),
                ('peak_memory_bytes', models.BigIntegerField(blank=True, null=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('ready_at', models.DateTimeField(blank=True, null=True)),
                ('objective', models.JSONField(blank=True, default=dict, help_text='Cached objective metrics (listening.objective): against the reference clip of the same sentence when the study has one, plus reference-free descriptors and the automatic MOS estimates (DistillMOS, DNSMOS).')),
                ('enqueued_at', models.DateTimeField(blank=True, null=True)),
                ('expected_sha256', models.CharField(blank=True, help_text="For a study made from a recipe: the sha256 the recipe gives for this recorded clip's file. An upload must match it (listening.studies.recordings).", max_length=64)),
                ('lease_expiries', models.PositiveSmallIntegerField(default=0)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('provenance', models.JSONField(blank=True, default=dict, help_text='What produced the clip, written when it becomes ready: seed, engine, voice and its file digests, speaker, noise and length scales, vocoder, sample rates, package versions (synthesis.provenance).')),
                ('task_id', models.CharField(blank=True, max_length=64)),
                ('worker', models.CharField(blank=True, max_length=255)),
                ('sentence', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clips', to='listening.sentence')),
                ('system', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clips', to='listening.system')),
            ],
            options={
                'ordering': ['system', 'sentence'],
                'indexes': [
                    models.Index(fields=['status'], name='listening_c_status_6ea62f_idx'),
                ],
                'constraints': [
                    models.UniqueConstraint(fields=('system', 'sentence'), name='one_clip_per_system_and_sentence'),
                    models.CheckConstraint(condition=models.Q(models.Q(('status', 'ready'), _negated=True), models.Q(('audio', ''), _negated=True), _connector='OR'), name='ready_clip_has_audio'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Listener',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.CharField(default=listening.models.studies.new_token, editable=False, max_length=32, unique=True)),
                ('platform', models.CharField(choices=[('none', 'Direct link'), ('prolific', 'Prolific'), ('mturk', 'Amazon Mechanical Turk')], default='none', max_length=16)),
                ('external_id', models.CharField(blank=True, max_length=128)),
                ('platform_params', models.JSONField(blank=True, default=dict)),
                ('stage', models.CharField(choices=[('consent', 'Consent'), ('questionnaire', 'Questionnaire'), ('headphones', 'Headphone check'), ('training', 'Training'), ('rating', 'Rating'), ('completed', 'Completed'), ('failed_check', 'Failed the headphone check'), ('no_playlist', 'No playlist left')], default='consent', max_length=16)),
                ('questionnaire', models.JSONField(blank=True, default=dict)),
                ('headphone_check', models.JSONField(blank=True, default=dict)),
                ('user_agent', models.CharField(blank=True, max_length=300)),
                ('attention_failures', models.PositiveSmallIntegerField(default=0)),
                ('flagged', models.BooleanField(default=False)),
                ('excluded', models.BooleanField(default=False)),
                ('exclusion_reason', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('last_seen_at', models.DateTimeField(auto_now=True)),
                ('consented_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('attempt_id', models.CharField(blank=True, max_length=200)),
                ('current_page', models.JSONField(blank=True, default=dict)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='listeners', to='listening.study')),
            ],
            options={
                'ordering': ['study', 'created_at'],
                'constraints': [
                    models.UniqueConstraint(condition=models.Q(models.Q(('external_id', ''), _negated=True), models.Q(('attempt_id', ''), _negated=True)), fields=('study', 'platform', 'external_id', 'attempt_id'), name='one_listener_per_attempt_and_study'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Playlist',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveIntegerField()),
                ('seed', models.BigIntegerField(help_text="Seed of this playlist's order; reproducible.")),
                ('status', models.CharField(choices=[('free', 'Free'), ('claimed', 'Claimed'), ('completed', 'Completed')], default='free', max_length=16)),
                ('claimed_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('times_released', models.PositiveSmallIntegerField(default=0)),
                ('listener', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='playlist', to='listening.listener')),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='playlists', to='listening.study')),
            ],
            options={
                'ordering': ['study', 'index'],
                'indexes': [
                    models.Index(fields=['study', 'status'], name='listening_p_study_i_8075b0_idx'),
                ],
                'constraints': [
                    models.UniqueConstraint(fields=('study', 'index'), name='playlist_index_unique'),
                    models.CheckConstraint(condition=models.Q(models.Q(('listener__isnull', True), ('status', 'free')), models.Q(('status', 'free'), _negated=True), _connector='OR'), name='free_playlist_has_no_listener'),
                ],
            },
        ),
        migrations.CreateModel(
            name='PlaylistItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('purpose', models.CharField(choices=[('training', 'Training (not counted)'), ('test', 'Test'), ('gold', 'Gold attention check'), ('repeat', 'Repeated clip (consistency check)')], default='test', max_length=16)),
                ('expected_score', models.PositiveSmallIntegerField(blank=True, help_text='Gold items: the answer an attentive listener gives.', null=True)),
                ('clip', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='playlist_items', to='listening.clip')),
                ('playlist', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='listening.playlist')),
            ],
            options={
                'ordering': ['playlist', 'position'],
                'constraints': [
                    models.UniqueConstraint(fields=('playlist', 'position'), name='item_position_unique'),
                    models.CheckConstraint(condition=models.Q(('expected_score__isnull', True), models.Q(('expected_score__gte', 1), ('expected_score__lte', 5)), _connector='OR'), name='item_expected_score_range'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Rating',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purpose', models.CharField(choices=[('training', 'Training (not counted)'), ('test', 'Test'), ('gold', 'Gold attention check'), ('repeat', 'Repeated clip (consistency check)')], default='test', max_length=16)),
                ('score', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(5)])),
                ('play_count', models.PositiveSmallIntegerField(default=1)),
                ('played_seconds', models.FloatField(default=0.0)),
                ('response_seconds', models.FloatField(blank=True, help_text='Server facts: from the earliest moment the clip could have ended to the answer.', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('client_response_seconds', models.FloatField(blank=True, help_text="The browser's own timing, end of first play to answer: information only.", null=True)),
                ('earliest_answer_at', models.DateTimeField(blank=True, help_text="served_at plus the clip's duration: the first moment it could have ended.", null=True)),
                ('served_at', models.DateTimeField(blank=True, help_text='When the server served the page with this clip.', null=True)),
                ('clip', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ratings', to='listening.clip')),
                ('item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ratings', to='listening.playlistitem')),
                ('listener', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='listening.listener')),
            ],
            options={
                'ordering': ['created_at'],
                'indexes': [
                    models.Index(fields=['clip', 'purpose'], name='listening_r_clip_id_d4bd04_idx'),
                ],
                'constraints': [
                    models.CheckConstraint(condition=models.Q(('score__gte', 1), ('score__lte', 5)), name='rating_score_1_to_5'),
                    models.UniqueConstraint(condition=models.Q(('purpose', 'test')), fields=('listener', 'clip'), name='one_rating_per_listener_and_clip'),
                    models.UniqueConstraint(fields=('listener', 'item'), name='one_rating_per_item'),
                    models.CheckConstraint(condition=models.Q(('play_count__gte', 0)), name='rating_play_count'),
                    models.CheckConstraint(condition=models.Q(('played_seconds__gte', 0)), name='rating_played_seconds'),
                ],
            },
        ),
        migrations.CreateModel(
            name='StudyReport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('ready', 'Ready'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('progress', models.FloatField(default=0.0)),
                ('message', models.CharField(blank=True, max_length=200)),
                ('data', models.JSONField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reports', to='listening.study')),
            ],
            options={
                'ordering': ['-created_at'],
                'constraints': [
                    models.UniqueConstraint(fields=('study', 'key'), name='one_report_per_fingerprint'),
                    models.CheckConstraint(condition=models.Q(('progress__gte', 0), ('progress__lte', 1)), name='report_progress_range'),
                ],
            },
        ),
        migrations.CreateModel(
            name='StudyArrival',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('platform', models.CharField(choices=[('none', 'Direct link'), ('prolific', 'Prolific'), ('mturk', 'Amazon Mechanical Turk')], max_length=16)),
                ('count', models.PositiveIntegerField(default=0)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='arrivals', to='listening.study')),
            ],
            options={
                'constraints': [
                    models.UniqueConstraint(fields=('study', 'platform'), name='one_arrival_row_per_platform'),
                ],
            },
        ),
    ]
